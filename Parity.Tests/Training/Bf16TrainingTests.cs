// Dimension letters: B batch, T tokens, C hidden, V vocabulary.
using System.Globalization;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Parity.Tests.Parity;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Precision;
using SimpleTransformer.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TransformerModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Parity.Tests.TrainingTests;

// Seeds LibTorch's process-wide random generator, so it must not run beside other tests that draw from it.
[TestClass]
[DoNotParallelize]
public sealed class Bf16TrainingTests
{
    /// <summary>Largest difference between the fp32 and bf16 losses allowed over the first 5 steps (nats per token).</summary>
    private const double StartTolerance = 0.01;

    /// <summary>V = 17, C = 16, H = 2, I = 32, 1 layer, context 8.</summary>
    private static readonly ModelConfig SmallConfig =
        new ModelConfig { VocabSize = 17, HiddenSize = 16, NumLayers = 1, NumHeads = 2, IntermediateSize = 32, MaxPositions = 8 }.Validate();

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void Bf16Run_ConvergesAndStartsLikeFp32()
    {
        using var scratch = new ScratchDirectory("bf16");
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);
        var options = TrainingFixtures.TinyOptions(maxSteps: 40);

        var fp32 = Run(scratch, corpus, options with { Precision = TrainingPrecision.Fp32 });
        var bf16 = Run(scratch, corpus, options with { Precision = TrainingPrecision.Bf16 });

        Assert.IsTrue(bf16.Losses.All(l => double.IsFinite(l.Loss)), "every bf16 loss is finite");
        double early = bf16.Losses.Take(3).Average(l => l.Loss);
        double late = bf16.Losses.TakeLast(3).Average(l => l.Loss);
        Assert.IsLessThan(early - 0.5, late, $"bf16 loss went from {early:F3} to {late:F3}");

        double startDifference = fp32.Losses.Zip(bf16.Losses, (a, b) => Math.Abs(a.Loss - b.Loss)).Take(5).Max();
        double endDifference = Math.Abs(fp32.Losses[^1].Loss - bf16.Losses[^1].Loss);
        TestContext.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fp32 {fp32.Losses[0].Loss:F4} -> {fp32.Losses[^1].Loss:F4}, bf16 {bf16.Losses[0].Loss:F4} -> {bf16.Losses[^1].Loss:F4}; max |diff| steps 1-5 {startDifference:E2}, step 40 {endDifference:E2}"));
        Assert.IsLessThanOrEqualTo(StartTolerance, startDifference, "fp32 and bf16 losses over the first 5 steps");
    }

    [TestMethod]
    public void Bf16Run_SavesFp32Weights()
    {
        using var scratch = new ScratchDirectory("bf16-weights");
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);

        var result = Run(scratch, corpus, TrainingFixtures.TinyOptions(maxSteps: 3) with { Precision = TrainingPrecision.Bf16 });

        var state = SimpleTransformer.Training.Checkpoints.TrainerState.Load(result.LastCheckpoint);
        Assert.AreEqual(TrainingPrecision.Bf16, state.Training.Precision);
        var weights = SimpleTransformer.Inference.Safetensors.Load(Path.Combine(result.LastCheckpoint, "model.safetensors"));
        var embedding = weights["token_embedding.weight"].Data;
        Assert.IsTrue(embedding.Any(v => (BitConverter.SingleToInt32Bits(v) & 0xFFFF) != 0),
            "master weights keep fp32 mantissa bits that bf16 would drop");
    }

    [TestMethod]
    public void WorkingCopy_RoundsMasterWeights()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var master = new TransformerModel(SmallConfig);
        using var copy = new Bf16WorkingCopy(master);
        var working = copy.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);

        foreach (var (name, parameter) in master.named_parameters())
        {
            Assert.AreEqual(ScalarType.BFloat16, working[name].dtype, name);
            Assert.IsTrue(working[name].eq(parameter.to(bfloat16)).all().item<bool>(), $"{name} is the bf16 rounding of the master weight");
        }
    }

    [TestMethod]
    public void WorkingCopy_SumsGradientsInFp32()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var master = new TransformerModel(SmallConfig);
        using var copy = new Bf16WorkingCopy(master);
        var working = copy.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);

        var expected = master.named_parameters().ToDictionary(p => p.name, p => zeros_like(p.parameter));
        foreach (int seed in new[] { 1, 2 })
        {
            manual_seed(seed);
            var ids = randint(0, 17, [2, 8]);                                            // [B, T]
            var logits = copy.Model.forward(ids).to(float32);                            // [B, T, V]
            F.cross_entropy(logits.view(-1, 17), randint(0, 17, [16])).backward();
            foreach (var (name, parameter) in working)
            {
                expected[name].add_(parameter.grad!.to(float32));
            }

            copy.AddGradientsToMaster();
        }

        foreach (var (name, parameter) in master.named_parameters())
        {
            Assert.AreEqual(ScalarType.Float32, parameter.grad!.dtype, name);
            TensorAssert.Close($"{name}.grad", expected[name].data<float>().ToArray(), parameter.grad.data<float>().ToArray(), 0);
            Assert.IsNull(working[name].grad, $"{name}: the working copy's gradient is cleared");
        }
    }

    [TestMethod]
    public void Bf16Kernels_AccumulateInFp32()
    {
        // Rows of 1,024 values near 100: a running sum kept in bf16 (8 significant bits) stops growing once its spacing
        // exceeds the terms, while an fp32 accumulation gives the fp32 result rounded once to bf16.
        using var scope = NewDisposeScope();
        manual_seed(11);
        var input = (randn(8, 1024) + 100).to(bfloat16);                                   // [rows, C]
        var weight = ones(1024);
        var bias = zeros(1024);

        var normed = F.layer_norm(input, [1024], weight.to(bfloat16), bias.to(bfloat16), 1e-5).to(float32);
        var normedReference = F.layer_norm(input.to(float32), [1024], weight, bias, 1e-5).to(bfloat16).to(float32);
        var softmax = F.softmax(input, -1).to(float32);
        var softmaxReference = F.softmax(input.to(float32), -1).to(bfloat16).to(float32);

        // One bf16 unit in the last place is at most 2^-7 of the value. Allow two units at the largest magnitude:
        // 4 for the normalized values, the largest probability for softmax.
        TensorAssert.Close("layer_norm", normedReference.data<float>().ToArray(), normed.data<float>().ToArray(), 2.0 / 128 * 4);
        TensorAssert.Close("softmax", softmaxReference.data<float>().ToArray(), softmax.data<float>().ToArray(), 2.0 / 128 * softmaxReference.max().item<float>());
    }

    [TestMethod]
    public void Bf16Attention_AccumulatesInFp32()
    {
        // One query attending 1,024 keys with nearly equal scores: every value row contributes about 1/1,024, which a
        // running sum kept in bf16 would lose once the sum passes a few hundredths.
        using var scope = NewDisposeScope();
        manual_seed(12);
        var q = (randn(1, 2, 4, 16) * 0.1).to(bfloat16);                                       // [B, H, T, D]
        var k = (randn(1, 2, 1024, 16) * 0.1).to(bfloat16);                                    // [B, H, S, D]
        var v = (randn(1, 2, 1024, 16) + 1).to(bfloat16);                                      // [B, H, S, D]
        var mask = zeros(1, 1, 4, 1024);                                                        // [B, 1, T, S]

        var attended = F.scaled_dot_product_attention(q, k, v, attn_mask: mask.to(bfloat16)).to(float32);
        var reference = F.scaled_dot_product_attention(q.to(float32), k.to(float32), v.to(float32), attn_mask: mask).to(bfloat16).to(float32);

        // The outputs are close to 1; allow four bf16 units (2^-7 each) for the probabilities rounded before the value product.
        TensorAssert.Close("scaled_dot_product_attention", reference.data<float>().ToArray(), attended.data<float>().ToArray(), 4.0 / 128);
    }

    private static TrainingResult Run(ScratchDirectory scratch, string corpus, TrainingOptions options)
    {
        var request = new TrainRequest
        {
            RunDirectory = Path.Combine(scratch.Path, $"{options.Precision}-{options.MaxSteps}"),
            CorpusPath = corpus,
            Preset = new Preset(TrainingFixtures.TinyModel(), options),
        };
        return Trainer.Run(request, _ => { });
    }
}

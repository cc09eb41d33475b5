// Dimension letters: B batch, T tokens, V vocabulary.
using System.Globalization;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SimpleTransformer.Parity.Tests.Parity;

/// <summary>
/// The TorchSharp model and its exported ONNX graph agree on prompt logits, on every cached decoding step and on
/// greedy tokens, for every model variant.
/// Tolerance: 1e-4 absolute on fp32 logits of order 1–10. Both runtimes compute in fp32 but sum in different
/// orders (LibTorch's and ONNX Runtime's GEMM and softmax kernels), which moves results by a few ulps per
/// operation, about 1e-6 to 1e-5 after a few layers; 1e-4 leaves a margin while a real difference in the
/// arithmetic (a wrong mask, scale or position) shows as 1e-2 or more.
/// </summary>
[TestClass]
public sealed class TorchOnnxParityTests
{
    private const double Tolerance = 1e-4;

    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> VariantNames => ExportFixtures.VariantNames;

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void PromptLogits_MatchTorch(string variant)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("parity-prompt");
        using var model = TorchModels.Create(config, seed: 11);
        using var runner = new OnnxModelRunner(TorchModels.Export(model, scratch.Path));
        long[] prompt = RandomTokens(config, 9, seed: 3);

        float[] expected = TorchLogits(model, prompt);
        var actual = runner.RunFull([prompt]);

        double diff = TensorAssert.Close($"{variant} logits", expected, actual.Logits, Tolerance);
        Report(variant, "prompt logits", diff);
    }

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void CachedSteps_MatchTorchFullForward(string variant)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("parity-steps");
        using var model = TorchModels.Create(config, seed: 12);
        using var runner = new OnnxModelRunner(TorchModels.Export(model, scratch.Path));
        long[] sequence = RandomTokens(config, config.MaxPositions, seed: 4);
        const int promptLength = 5;
        float[] full = TorchLogits(model, sequence);   // [1, T, V]
        int vocab = config.VocabSize;

        var step = runner.RunFull([sequence[..promptLength]]);
        double worst = TensorAssert.Close($"{variant} prefill", full.AsSpan(0, promptLength * vocab), step.Logits, Tolerance);
        for (int t = promptLength; t < sequence.Length; t++)
        {
            step = runner.Run([[sequence[t]]], OnnxModelRunner.Ones(1, t + 1), [[t]], step.Present);
            double diff = TensorAssert.Close($"{variant} cached step at position {t}", full.AsSpan(t * vocab, vocab), step.Logits, Tolerance);
            worst = Math.Max(worst, diff);
        }

        Report(variant, $"cached steps to the full context ({config.MaxPositions} tokens)", worst);
    }

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void GreedyTokens_MatchTorch(string variant)
    {
        var config = (ExportFixtures.Variants[variant] with { MaxPositions = 64 }).Validate();
        using var scratch = new ScratchDirectory("parity-greedy");
        using var model = TorchModels.Create(config, seed: 13);
        using var runner = new OnnxModelRunner(TorchModels.Export(model, scratch.Path));
        long[] prompt = RandomTokens(config, 4, seed: 5);
        const int newTokens = 50;

        var expected = TorchGeneration.Generate(model, [.. prompt.Select(t => (int)t)], new SamplingSettings { MaxNewTokens = newTokens });

        var actual = new List<int>();
        var step = runner.RunFull([prompt]);
        int length = prompt.Length;
        for (int i = 0; i < newTokens; i++)
        {
            float[] last = step.LogitsAt(0, (int)step.LogitsShape[1] - 1);
            int token = Array.IndexOf(last, last.Max());
            actual.Add(token);
            if (i + 1 < newTokens)
            {
                step = runner.Run([[token]], OnnxModelRunner.Ones(1, length + 1), [[length]], step.Present);
                length++;
            }
        }

        CollectionAssert.AreEqual(expected, actual, $"{variant}: greedy tokens differ. TorchSharp: {string.Join(",", expected)}; ONNX Runtime: {string.Join(",", actual)}");
        TestContext.WriteLine($"parity {variant,-40} {newTokens} greedy tokens identical");
    }

    private static float[] TorchLogits(Training.Model.SimpleTransformer model, long[] tokens)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = model.forward(tensor(tokens, [1, tokens.Length]));   // [1, T, V]
        return logits.data<float>().ToArray();
    }

    private static long[] RandomTokens(ModelConfig config, int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (long)random.Next(3, config.VocabSize))];
    }

    private void Report(string variant, string what, double maxDiff) =>
        TestContext.WriteLine(string.Create(CultureInfo.InvariantCulture, $"parity {variant,-40} {what,-45} max |diff| {maxDiff:E2}"));
}

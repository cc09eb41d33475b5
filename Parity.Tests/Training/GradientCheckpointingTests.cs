// Dimension letters: B batch, T tokens, V vocabulary.
using System.Globalization;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Parity.Tests.Parity;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TransformerModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Parity.Tests.TrainingTests;

// Seeds LibTorch's process-wide random generator, so it must not run beside other tests that draw from it.
[TestClass]
[DoNotParallelize]
public sealed class GradientCheckpointingTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>V = 29, C = 32, H = 4, I = 64, 3 layers, context 16, dropout 0.2 on hidden states and attention weights.</summary>
    private static ModelConfig WithDropout(PositionEmbedding positions) => new ModelConfig
    {
        VocabSize = 29,
        HiddenSize = 32,
        NumLayers = 3,
        NumHeads = 4,
        IntermediateSize = 64,
        MaxPositions = 16,
        PositionEmbedding = positions,
        HiddenDropout = 0.2,
        AttentionDropout = 0.2,
    }.Validate();

    public static IEnumerable<object[]> PositionSchemes =>
        Enum.GetValues<PositionEmbedding>().Select(p => new object[] { p });

    [TestMethod]
    [DynamicData(nameof(PositionSchemes))]
    public void Checkpointing_GivesGradientsOfPlainModel(PositionEmbedding positions)
    {
        var config = WithDropout(positions);

        var plain = Gradients(config, checkpointing: false, dropoutSeed: 7);
        var recomputed = Gradients(config, checkpointing: true, dropoutSeed: 7);

        Assert.HasCount(plain.Count, recomputed);
        double worst = 0;
        foreach (var (name, expected) in plain)
        {
            worst = Math.Max(worst, TensorAssert.Close($"{positions} {name}.grad", expected, recomputed[name], 1e-6));
        }

        TestContext.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{positions}: {plain.Count} gradients, max |plain - checkpointed| {worst:E2}"));
    }

    [TestMethod]
    public void Gradients_DependOnDropoutSeed()
    {
        // Without this, a recomputation that drew fresh dropout masks could still match the plain model.
        var config = WithDropout(PositionEmbedding.Learned);

        var first = Gradients(config, checkpointing: false, dropoutSeed: 7);
        var second = Gradients(config, checkpointing: false, dropoutSeed: 8);

        double largest = first.Max(p => p.Value.Zip(second[p.Key], (a, b) => Math.Abs(a - b)).Max());
        Assert.IsGreaterThan(1e-4, largest, "dropout masks must change the gradients");
    }

    /// <summary>
    /// Builds a model with weights from seed 1, seeds the dropout generator with <paramref name="dropoutSeed"/>,
    /// back-propagates the cross-entropy of a fixed [2, 12] batch and returns every parameter's gradient by name.
    /// </summary>
    private static Dictionary<string, float[]> Gradients(ModelConfig config, bool checkpointing, int dropoutSeed)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = new TransformerModel(config) { GradientCheckpointing = checkpointing };
        model.train();
        var generator = new Random(3);
        var ids = tensor(Enumerable.Range(0, 24).Select(_ => (long)generator.Next(config.VocabSize)).ToArray(), [2, 12]);      // [B, T]
        var targets = tensor(Enumerable.Range(0, 24).Select(_ => (long)generator.Next(config.VocabSize)).ToArray(), [24]);    // [B·T]

        manual_seed(dropoutSeed);
        var logits = model.forward(ids);                                                                                      // [B, T, V]
        F.cross_entropy(logits.view(-1, config.VocabSize), targets).backward();

        return model.named_parameters().ToDictionary(
            p => p.name,
            p => p.parameter.grad?.data<float>().ToArray() ?? throw new AssertFailedException($"{p.name} has no gradient"));
    }
}

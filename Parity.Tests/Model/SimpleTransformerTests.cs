// Dimension letters: B batch, T tokens, V vocabulary.
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Parity.Tests.Parity;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Data;
using SimpleTransformer.Training.Model;
using TorchSharp;
using static TorchSharp.torch;
using TransformerModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Parity.Tests.Model;

[TestClass]
public sealed class SimpleTransformerTests
{
    public static IEnumerable<object[]> PositionSchemes =>
        Enum.GetValues<PositionEmbedding>().Select(p => new object[] { p });

    [TestMethod]
    [DynamicData(nameof(PositionSchemes))]
    public void Forward_ReturnsLogitsPerToken(PositionEmbedding scheme)
    {
        using var scope = NewDisposeScope();
        using var model = TorchModels.Create(ModelTestConfigs.Tiny with { PositionEmbedding = scheme }, seed: 1);

        var logits = model.forward(randint(3, 13, [2, 7]));

        CollectionAssert.AreEqual(new long[] { 2, 7, 13 }, logits.shape);
    }

    [TestMethod]
    [DynamicData(nameof(PositionSchemes))]
    public void RightPadding_KeepsLogitsOfRealTokens(PositionEmbedding scheme)
    {
        using var scope = NewDisposeScope();
        using var model = TorchModels.Create(ModelTestConfigs.Tiny with { PositionEmbedding = scheme }, seed: 2);
        var tokens = tensor(new long[] { 5, 6, 7, 8 }, [1, 4]);
        var padded = tensor(new long[] { 5, 6, 7, 8, 0, 0, 0 }, [1, 7]);
        var mask = tensor(new long[] { 1, 1, 1, 1, 0, 0, 0 }, [1, 7]);

        var alone = model.forward(tokens);
        var withPadding = model.forward(padded, mask).narrow(1, 0, 4);

        TensorAssert.Close($"{scheme} logits of real tokens", alone.data<float>().ToArray(), withPadding.data<float>().ToArray(), 1e-5);
    }

    [TestMethod]
    [DynamicData(nameof(PositionSchemes))]
    public void LeftPadding_KeepsLogitsOfRealTokens(PositionEmbedding scheme)
    {
        using var scope = NewDisposeScope();
        using var model = TorchModels.Create(ModelTestConfigs.Tiny with { PositionEmbedding = scheme }, seed: 3);
        var tokens = tensor(new long[] { 5, 6, 7, 8 }, [1, 4]);
        var padded = tensor(new long[] { 0, 0, 5, 6, 7, 8 }, [1, 6]);
        var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1 }, [1, 6]);

        var alone = model.forward(tokens);
        var withPadding = model.forward(padded, mask).narrow(1, 2, 4);

        TensorAssert.Close($"{scheme} logits of real tokens", alone.data<float>().ToArray(), withPadding.data<float>().ToArray(), 1e-5);
    }

    [TestMethod]
    public void SlidingWindow_TokensOutsideWindowHaveNoInfluence()
    {
        using var scope = NewDisposeScope();
        var config = (ModelTestConfigs.Tiny with { NumLayers = 1, SlidingWindow = 3 }).Validate();
        using var model = TorchModels.Create(config, seed: 4);
        var original = tensor(new long[] { 3, 4, 5, 6, 7, 8 }, [1, 6]);
        var changedOutside = tensor(new long[] { 9, 9, 5, 6, 7, 8 }, [1, 6]);   // the last query attends keys 3..5 only
        var changedInside = tensor(new long[] { 3, 4, 5, 9, 7, 8 }, [1, 6]);

        var last = model.forward(original)[0, -1];
        var outside = model.forward(changedOutside)[0, -1];
        var inside = model.forward(changedInside)[0, -1];

        TensorAssert.Close("last logits after changing tokens outside the window", last.data<float>().ToArray(), outside.data<float>().ToArray(), 1e-6);
        Assert.IsGreaterThan(1e-3, (last - inside).abs().max().item<float>(), "changing a token inside the window must change the last logits");
    }

    [TestMethod]
    public void TiedEmbeddings_AreCountedAndOptimizedOnce()
    {
        var untiedConfig = ModelTestConfigs.Tiny;
        var tiedConfig = (ModelTestConfigs.Tiny with { TieWordEmbeddings = true }).Validate();
        using var untied = new TransformerModel(untiedConfig);
        using var tied = new TransformerModel(tiedConfig);

        long shared = (long)untiedConfig.VocabSize * untiedConfig.HiddenSize;
        Assert.AreEqual(untied.ParameterCount() - shared, tied.ParameterCount());
        Assert.AreEqual(TensorLayout.Expected(tiedConfig).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)), tied.ParameterCount());
        using var optimizer = new Training.Optimization.AdamW(tied.named_parameters(), 0.9, 0.99, 1e-8, 0.1);
        Assert.AreEqual(optimizer.Parameters.Count, optimizer.Parameters.Select(p => p.Parameter.Handle).Distinct().Count());
        Assert.IsFalse(tied.named_parameters().Any(p => p.name.StartsWith("lm_head", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void StateDict_MatchesTensorLayout()
    {
        foreach (var scheme in Enum.GetValues<PositionEmbedding>())
        {
            foreach (bool tied in new[] { false, true })
            {
                var config = (ModelTestConfigs.Tiny with { PositionEmbedding = scheme, TieWordEmbeddings = tied }).Validate();
                using var model = new TransformerModel(config);

                var names = model.state_dict().Keys.Order(StringComparer.Ordinal).ToList();
                var expected = TensorLayout.Expected(config).Select(t => t.Name).Order(StringComparer.Ordinal).ToList();

                CollectionAssert.AreEqual(expected, names, $"{scheme}, tied {tied}");
            }
        }
    }

    [TestMethod]
    public void Loss_IgnoresPaddedTargets()
    {
        using var scope = NewDisposeScope();
        using var model = TorchModels.Create(ModelTestConfigs.Tiny, seed: 5);
        var plain = new Batch(1, 3, [4, 5, 6], [5, 6, 7], [1, 1, 1]);
        var padded = new Batch(1, 5, [4, 5, 6, 0, 0], [5, 6, 7, Batch.IgnoreIndex, Batch.IgnoreIndex], [1, 1, 1, 0, 0]);

        float plainLoss = Training.Trainer.Trainer.Loss(model, plain, plain.ScoredTokens, DataMode.Documents).item<float>();
        float paddedLoss = Training.Trainer.Trainer.Loss(model, padded, padded.ScoredTokens, DataMode.Documents).item<float>();

        Assert.AreEqual(plainLoss, paddedLoss, 1e-6f);
        Assert.AreEqual(3, padded.ScoredTokens);
    }

    [TestMethod]
    public void GradientAccumulation_EqualsOneLargerBatch()
    {
        using var scope = NewDisposeScope();
        using var model = TorchModels.Create(ModelTestConfigs.Tiny, seed: 6);
        model.train();
        var first = new Batch(2, 3, [4, 5, 6, 7, 8, 9], [5, 6, 7, 8, 9, 10], [1, 1, 1, 1, 1, 1]);
        var second = new Batch(1, 4, [3, 4, 5, 0], [4, 5, 6, Batch.IgnoreIndex], [1, 1, 1, 0]);
        var combined = new Batch(3, 4,
            [4, 5, 6, 0, 7, 8, 9, 0, 3, 4, 5, 0],
            [5, 6, 7, Batch.IgnoreIndex, 8, 9, 10, Batch.IgnoreIndex, 4, 5, 6, Batch.IgnoreIndex],
            [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0]);
        long scored = first.ScoredTokens + second.ScoredTokens;

        Training.Trainer.Trainer.Loss(model, first, scored, DataMode.Documents).backward();
        Training.Trainer.Trainer.Loss(model, second, scored, DataMode.Documents).backward();
        var accumulated = model.parameters().Select(p => p.grad!.clone()).ToList();
        model.zero_grad();
        Training.Trainer.Trainer.Loss(model, combined, combined.ScoredTokens, DataMode.Documents).backward();
        var single = model.parameters().Select(p => p.grad!.clone()).ToList();

        for (int i = 0; i < single.Count; i++)
        {
            TensorAssert.Close($"gradient {i}", single[i].data<float>().ToArray(), accumulated[i].data<float>().ToArray(), 1e-6);
        }
    }
}

using SimpleTransformer.Export;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Runtime;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// The inference library (<see cref="TransformerModel"/>) loads the optimized float32 graph like the standard one and
/// generates the same greedy tokens from it, for single prompts and for its own left-padded batches.
/// </summary>
[TestClass]
public sealed class InferenceLibraryGraphTests
{
    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> VariantNames => ExportFixtures.VariantNames;

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void TransformerModel_OptimizedGraph_GeneratesLikeStandard(string variant)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("inference-library");
        var options = new ModelOptions { IntraOpThreads = 1 };
        using var standard = TransformerModel.Load(ExportFixtures.Export(scratch, config, "standard"), options);
        using var optimized = TransformerModel.Load(ExportFixtures.Export(scratch, config, "optimized", graph: ExportGraph.Optimized), options);
        var greedy = new GenerationOptions { Temperature = 0, MaxNewTokens = 12, StopOnEndOfSequence = false };
        string[] prompts = ["abc", "hgfedcba"];

        var expected = standard.GenerateBatch(prompts, greedy);
        var actual = optimized.GenerateBatch(prompts, greedy);
        var single = optimized.Generate(prompts[0], greedy);

        for (int row = 0; row < prompts.Length; row++)
        {
            CollectionAssert.AreEqual(expected[row].TokenIds.ToArray(), actual[row].TokenIds.ToArray(),
                $"{variant}, prompt '{prompts[row]}': standard {string.Join(",", expected[row].TokenIds)}, optimized {string.Join(",", actual[row].TokenIds)}");
        }

        CollectionAssert.AreEqual(actual[0].TokenIds.ToArray(), single.TokenIds.ToArray(), $"{variant}: the left-padded batch row equals the single run");
        TestContext.WriteLine($"{variant}: {string.Join(" | ", actual.Select(r => string.Join(",", r.TokenIds)))}");
    }
}

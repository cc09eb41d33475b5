using SimpleTransformer.Export;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// Runs exported models of every variant, as standard and as optimized graph, in ONNX Runtime and checks the
/// properties generation relies on: output shapes, KV-cache consistency, left padding and the sliding window.
/// </summary>
[TestClass]
public sealed class OnnxExportBehaviorTests
{
    private const float CacheTolerance = 1e-4f;

    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> VariantGraphs => ExportFixtures.VariantGraphs;

    public static IEnumerable<object[]> WindowedVariantGraphs => ExportFixtures.WindowedVariantGraphs;

    [TestMethod]
    [DynamicData(nameof(VariantGraphs))]
    public void Export_Variant_RunsWithExpectedShapes(string variant, ExportGraph graph)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("shapes");
        using var runner = new OnnxModelRunner(ExportFixtures.Export(scratch, config, graph: graph));

        var result = runner.RunFull([[3, 4, 5, 6, 7], [8, 9, 10, 3, 4]]);

        CollectionAssert.AreEqual(new long[] { 2, 5, config.VocabSize }, result.LogitsShape, "logits shape");
        Assert.HasCount(config.NumLayers, result.Present);
        Assert.IsTrue(result.Logits.All(float.IsFinite), "every logit is finite");
        Assert.IsGreaterThan(1e-3f, MaxAbsDifference(result.LogitsAt(0, 4), result.LogitsAt(1, 4)),
            "different sequences give different logits, so the weights reach the output");
    }

    [TestMethod]
    [DynamicData(nameof(VariantGraphs))]
    public void KvCache_PromptThenSteps_MatchesFullSequence(string variant, ExportGraph graph)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("kv-cache");
        using var runner = new OnnxModelRunner(ExportFixtures.Export(scratch, config, graph: graph));
        long[][] tokens = [[3, 4, 5, 6, 7, 8, 9, 10, 3, 4, 5, 6], [10, 9, 8, 7, 6, 5, 4, 3, 10, 9, 8, 7]];
        int length = tokens[0].Length, promptLength = 4;

        var full = runner.RunFull(tokens);

        var step = runner.RunFull([.. tokens.Select(row => row[..promptLength])]);
        float worst = 0;
        for (int t = 0; t < promptLength; t++)
        {
            worst = Math.Max(worst, CompareRows(full, t, step, t, $"prompt token {t}"));
        }

        for (int t = promptLength; t < length; t++)
        {
            long[][] next = [.. tokens.Select(row => new[] { row[t] })];
            step = runner.Run(next, OnnxModelRunner.Ones(2, t + 1), [[t], [t]], step.Present);
            worst = Math.Max(worst, CompareRows(full, t, step, 0, $"cached step at position {t}"));
        }

        TestContext.WriteLine($"{variant} {graph}: max |full - cached| over {length} positions and 2 rows = {worst:E2}");
    }

    [TestMethod]
    [DynamicData(nameof(VariantGraphs))]
    public void LeftPadding_PaddedRow_MatchesUnpaddedPrompt(string variant, ExportGraph graph)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("left-padding");
        using var runner = new OnnxModelRunner(ExportFixtures.Export(scratch, config, graph: graph));
        long[] prompt = [5, 6, 7, 8, 9, 10];
        long[] other = [3, 4, 5, 6, 7, 8, 9, 10, 3];
        const int padding = 3;

        var alone = runner.RunFull([prompt]);
        var aloneStep = runner.Run([[4]], OnnxModelRunner.Ones(1, prompt.Length + 1), [[prompt.Length]], alone.Present);

        long[] paddedRow = [.. Enumerable.Repeat(0L, padding), .. prompt];
        long[] paddedMask = [.. Enumerable.Repeat(0L, padding), .. Enumerable.Repeat(1L, prompt.Length)];
        long[] paddedPositions = LeftPaddedPositions(paddedMask);
        var batch = runner.Run([paddedRow, other], [paddedMask, OnnxModelRunner.Ones(1, other.Length)[0]],
            [paddedPositions, [.. Enumerable.Range(0, other.Length).Select(p => (long)p)]]);
        float promptDifference = MaxAbsDifference(alone.LogitsAt(0, prompt.Length - 1), batch.LogitsAt(0, other.Length - 1));

        long[] stepMask = [.. paddedMask, 1];
        var batchStep = runner.Run([[4], [4]], [stepMask, OnnxModelRunner.Ones(1, other.Length + 1)[0]],
            [[prompt.Length], [other.Length]], batch.Present);
        float stepDifference = MaxAbsDifference(aloneStep.LogitsAt(0, 0), batchStep.LogitsAt(0, 0));

        TestContext.WriteLine($"{variant} {graph}: max |padded - alone| last prompt token {promptDifference:E2}, cached step {stepDifference:E2}");
        Assert.IsLessThanOrEqualTo(CacheTolerance, promptDifference, "last prompt token of the left-padded row");
        Assert.IsLessThanOrEqualTo(CacheTolerance, stepDifference, "cached step after the left-padded prompt");
    }

    [TestMethod]
    [DynamicData(nameof(WindowedVariantGraphs))]
    public void SlidingWindow_TokenOutsideWindow_DoesNotChangeLastLogits(string variant, ExportGraph graph)
    {
        // Two layers with window W reach back 2(W - 1) tokens from the last one.
        var config = ExportFixtures.Variants[variant];
        int window = config.SlidingWindow!.Value;
        using var scratch = new ScratchDirectory("sliding-window");
        using var runner = new OnnxModelRunner(ExportFixtures.Export(scratch, config, graph: graph));
        long[] tokens = [3, 4, 5, 6, 7, 8, 9, 10, 3, 4, 5, 6, 7, 8, 9, 10];
        int last = tokens.Length - 1;
        int outside = last - config.NumLayers * (window - 1) - 1;
        int inside = last - 1;

        float[] baseline = runner.RunFull([tokens]).LogitsAt(0, last);
        float outsideDifference = MaxAbsDifference(baseline, runner.RunFull([Replace(tokens, outside)]).LogitsAt(0, last));
        float insideDifference = MaxAbsDifference(baseline, runner.RunFull([Replace(tokens, inside)]).LogitsAt(0, last));

        TestContext.WriteLine($"{variant} {graph}: change at {outside} (outside) moves last logits by {outsideDifference:E2}, at {inside} (inside) by {insideDifference:E2}");
        Assert.AreEqual(0f, outsideDifference, $"token {outside} is outside every window that reaches token {last}");
        Assert.IsGreaterThan(1e-3f, insideDifference, $"token {inside} is inside the window of token {last}");
    }

    [TestMethod]
    [DataRow(ExportGraph.Standard)]
    [DataRow(ExportGraph.Optimized)]
    public void SlidingWindow_OneLayer_MasksDistanceW(ExportGraph graph)
    {
        var config = (ExportFixtures.Small with { NumLayers = 1, SlidingWindow = 4 }).Validate();
        using var scratch = new ScratchDirectory("window-edge");
        using var runner = new OnnxModelRunner(ExportFixtures.Export(scratch, config, graph: graph));
        long[] tokens = [3, 4, 5, 6, 7, 8, 9, 10, 3, 4];
        int last = tokens.Length - 1;

        float[] baseline = runner.RunFull([tokens]).LogitsAt(0, last);
        float justOutside = MaxAbsDifference(baseline, runner.RunFull([Replace(tokens, last - 4)]).LogitsAt(0, last));
        float oldestInside = MaxAbsDifference(baseline, runner.RunFull([Replace(tokens, last - 3)]).LogitsAt(0, last));

        Assert.AreEqual(0f, justOutside, "key at distance W = 4 is masked");
        Assert.IsGreaterThan(1e-3f, oldestInside, "key at distance W - 1 = 3 is visible");
    }

    [TestMethod]
    [DataRow(ExportGraph.Standard)]
    [DataRow(ExportGraph.Optimized)]
    public void NoSlidingWindow_FirstToken_ChangesLastLogits(ExportGraph graph)
    {
        using var scratch = new ScratchDirectory("no-window");
        using var runner = new OnnxModelRunner(ExportFixtures.Export(scratch, ExportFixtures.Small, graph: graph));
        long[] tokens = [3, 4, 5, 6, 7, 8, 9, 10, 3, 4, 5, 6, 7, 8, 9, 10];

        float[] baseline = runner.RunFull([tokens]).LogitsAt(0, tokens.Length - 1);
        float difference = MaxAbsDifference(baseline, runner.RunFull([Replace(tokens, 0)]).LogitsAt(0, tokens.Length - 1));

        Assert.IsGreaterThan(1e-4f, difference, "without a window the last token attends the first");
    }

    private float CompareRows(StepResult expected, int expectedToken, StepResult actual, int actualToken, string what)
    {
        float worst = 0;
        for (int row = 0; row < 2; row++)
        {
            float[] a = expected.LogitsAt(row, expectedToken), b = actual.LogitsAt(row, actualToken);
            float difference = MaxAbsDifference(a, b);
            int index = Enumerable.Range(0, a.Length).MaxBy(i => Math.Abs(a[i] - b[i]));
            Assert.IsLessThanOrEqualTo(CacheTolerance, difference,
                $"{what}, row {row}: logit {index} is {b[index]} with the cache, {a[index]} in one pass");
            worst = Math.Max(worst, difference);
        }

        return worst;
    }

    // position_ids = max(cumsum(mask) - 1, 0), the convention for left-padded batches.
    private static long[] LeftPaddedPositions(long[] mask)
    {
        long sum = 0;
        return [.. mask.Select(m => Math.Max((sum += m) - 1, 0))];
    }

    private static long[] Replace(long[] tokens, int index)
    {
        long[] copy = [.. tokens];
        copy[index] = copy[index] == 3 ? 4 : 3;
        return copy;
    }

    internal static float MaxAbsDifference(float[] a, float[] b)
    {
        Assert.HasCount(a.Length, b);
        float worst = 0;
        for (int i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
        }

        return worst;
    }
}

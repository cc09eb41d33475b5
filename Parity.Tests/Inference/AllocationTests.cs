using System.Diagnostics;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Runtime;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class AllocationTests
{
    /// <summary>The managed allocation per decoded token that steady-state decoding must stay under.</summary>
    private const double MaxBytesPerToken = 4096;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void DecodingAllocatesLittlePerToken()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory("benchmark"), new ModelOptions { IntraOpThreads = 1 });
        var options = new GenerationOptions { Temperature = 0.9f, TopK = 10, Seed = 3, StopOnEndOfSequence = false };
        model.Generate("the ", options with { MaxNewTokens = 20 });

        // The difference between a long and a short run cancels the per-generation setup (buffers, sampler, result).
        long shortRun = AllocatedBy(() => model.Generate("the ", options with { MaxNewTokens = 50 }));
        long longRun = AllocatedBy(() => model.Generate("the ", options with { MaxNewTokens = 450 }));
        double perToken = (longRun - shortRun) / 400.0;

        TestContext.WriteLine($"benchmark model: {shortRun} bytes for 50 tokens, {longRun} bytes for 450 tokens, {perToken:F0} bytes per token");
        Assert.IsTrue(perToken < MaxBytesPerToken, $"decoding allocates {perToken:F0} bytes per token, more than {MaxBytesPerToken}");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(8)]
    public void ReportsTokensPerSecond(int batch)
    {
        using var model = TransformerModel.Load(InferenceModels.Directory("benchmark"), new ModelOptions { IntraOpThreads = 1 });
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 200, StopOnEndOfSequence = false };
        string[] prompts = [.. Enumerable.Range(0, batch).Select(i => "the quick brown fox "[..(5 + i)])];
        model.GenerateBatch(prompts, options with { MaxNewTokens = 10 });

        var stopwatch = Stopwatch.StartNew();
        var results = model.GenerateBatch(prompts, options);
        stopwatch.Stop();

        int tokens = results.Sum(r => r.TokenCount);
        Assert.AreEqual(batch * 200, tokens);
        TestContext.WriteLine($"benchmark model, batch {batch}, 1 intra-op thread: {tokens} tokens in {stopwatch.Elapsed.TotalSeconds:F2} s, {tokens / stopwatch.Elapsed.TotalSeconds:F0} tokens/s");
    }

    private static long AllocatedBy(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}

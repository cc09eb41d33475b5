using System.Diagnostics;
using System.Text;
using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Load;

/// <summary>
/// Cancels 200 generations midway, through <c>Generate</c>, <c>GenerateBatch</c> and <c>GenerateStreamingAsync</c> in
/// turn, and checks that the process's memory stays flat and that later generations are unchanged. A cancelled call
/// must dispose its key/value cache, I/O binding, run options and pinned buffers like a finished one.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class CancellationLeakTests
{
    private const int Cancellations = 200;

    /// <summary>
    /// The maximum RSS growth over the 200 cancellations. A cancelled call owns a key/value cache of about 0.8 MB (one
    /// sequence) or 6.7 MB (eight), so a call that failed to dispose it would add hundreds of MB.
    /// </summary>
    private const long MaxRssGrowthBytes = 20L << 20;

    /// <summary>The maximum growth of the live managed heap, the same bound as the soak's.</summary>
    private const long MaxManagedGrowthBytes = 256L << 10;

    private static readonly GenerationOptions Options = new() { Temperature = 0.9f, TopK = 20, Seed = 21, MaxNewTokens = 200, StopOnEndOfSequence = false };
    private static readonly string[] BatchPrompts = ["the quick ", "", "日本 äöü", "a\u0001b", "lazy dog. ", "fox", "ab ab ab", "über"];

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task CancelledGenerationsLeakNothing()
    {
        using var model = LoadModels.Load();
        string expectedSingle = model.Generate(BatchPrompts[0], Options).Text;
        string[] expectedBatch = [.. model.GenerateBatch(BatchPrompts, Options).Select(r => r.Text)];

        // The second calls are timed, after the first ones compiled the code paths.
        var stopwatch = Stopwatch.StartNew();
        model.Generate(BatchPrompts[0], Options);
        var singleDuration = stopwatch.Elapsed;
        stopwatch.Restart();
        model.GenerateBatch(BatchPrompts, Options);
        var batchDuration = stopwatch.Elapsed;

        var counter = new CancellationCounter();
        for (int i = 0; i < 9; i++)
        {
            await CancelOneAsync(model, i, singleDuration, batchDuration, counter);
        }

        var before = ProcessMemory.Measure();
        counter = new CancellationCounter();
        stopwatch.Restart();
        for (int i = 0; i < Cancellations; i++)
        {
            await CancelOneAsync(model, i, singleDuration, batchDuration, counter);
        }

        stopwatch.Stop();
        var after = ProcessMemory.Measure();
        var growth = ProcessMemory.Growth(before, after);
        TestContext.WriteLine(
            $"{Cancellations} cancellations ({counter}) in {stopwatch.Elapsed.TotalSeconds:F1} s; before: {before}; after: {after}; " +
            $"RSS growth {growth.RssBytes / 1024} KiB, managed growth {growth.ManagedBytes / 1024} KiB");

        Assert.IsTrue(growth.RssBytes < MaxRssGrowthBytes, $"RSS grew by {growth.RssBytes / 1024} KiB over {Cancellations} cancellations, more than {MaxRssGrowthBytes / 1024} KiB");
        Assert.IsTrue(growth.ManagedBytes < MaxManagedGrowthBytes, $"the managed heap grew by {growth.ManagedBytes / 1024} KiB over {Cancellations} cancellations, more than {MaxManagedGrowthBytes / 1024} KiB");
        Assert.AreEqual(expectedSingle, model.Generate(BatchPrompts[0], Options).Text, "Generate after the cancellations");
        CollectionAssert.AreEqual(expectedBatch, model.GenerateBatch(BatchPrompts, Options).Select(r => r.Text).ToArray(), "GenerateBatch after the cancellations");
        Assert.AreEqual(expectedSingle, await StreamAsync(model, BatchPrompts[0]), "streaming after the cancellations");
    }

    // Call i cancels Generate (i % 3 == 0) or GenerateBatch (1) after 5 % to 50 % of the time a full call took,
    // or the stream (2) after 1 to 50 pieces.
    private static async Task CancelOneAsync(TransformerModel model, int i, TimeSpan singleDuration, TimeSpan batchDuration, CancellationCounter counter)
    {
        if (i % 3 == 2)
        {
            using var cancellation = new CancellationTokenSource();
            int pieces = 1 + i / 3 % 50;
            await Assert.ThrowsAsync<OperationCanceledException>(() => StreamAsync(model, BatchPrompts[0], cancellation, pieces));
            counter.Streams++;
            return;
        }

        bool batch = i % 3 == 1;
        double fraction = 0.05 + 0.45 * (i / 3 % 10) / 9.0;
        var delay = (batch ? batchDuration : singleDuration) * fraction;

        // Under load a call can finish before the timer fires; a shorter delay is then tried, down to an immediate cancellation.
        for (int attempt = 0; ; attempt++)
        {
            using var cancellation = new CancellationTokenSource();
            cancellation.CancelAfter(attempt < 4 ? delay / (1 << attempt) : TimeSpan.Zero);
            try
            {
                if (batch)
                {
                    model.GenerateBatch(BatchPrompts, Options, cancellation.Token);
                }
                else
                {
                    model.Generate(BatchPrompts[0], Options, cancellation.Token);
                }
            }
            catch (OperationCanceledException)
            {
                counter.Count(batch, attempt);
                return;
            }
        }
    }

    // Streams a whole generation, or cancels it through cancellation once cancelAfterPieces pieces have arrived.
    private static async Task<string> StreamAsync(TransformerModel model, string prompt, CancellationTokenSource? cancellation = null, int cancelAfterPieces = 0)
    {
        var text = new StringBuilder();
        int pieces = 0;
        await foreach (string piece in model.GenerateStreamingAsync(prompt, Options, cancellation?.Token ?? CancellationToken.None))
        {
            text.Append(piece);
            if (++pieces == cancelAfterPieces)
            {
                cancellation!.Cancel();
            }
        }

        return text.ToString();
    }

    private sealed class CancellationCounter
    {
        public int Singles { get; private set; }

        public int Batches { get; private set; }

        public int Streams { get; set; }

        public int Retried { get; private set; }

        public void Count(bool batch, int attempt)
        {
            if (batch)
            {
                Batches++;
            }
            else
            {
                Singles++;
            }

            if (attempt > 0)
            {
                Retried++;
            }
        }

        public override string ToString() =>
            $"Generate {Singles}, GenerateBatch {Batches}, streaming {Streams}; {Retried} timed cancellations needed a shorter delay";
    }
}

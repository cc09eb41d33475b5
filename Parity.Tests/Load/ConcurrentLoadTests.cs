using System.Text;
using Microsoft.Extensions.AI;
using SimpleTransformer.Inference.AI;
using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Load;

/// <summary>
/// Eight threads call one loaded model at once, through every generation path, and must get exactly the output
/// of the same calls made one after another.
/// </summary>
[TestClass]
public sealed class ConcurrentLoadTests
{
    private const int Threads = 8;
    private const int Rounds = 3;

    /// <summary>Tokens one thread generates per round: 40 for each call, and a batch of three sequences.</summary>
    private const int TokensPerThread = 40 + 40 + 3 * 40 + 40 + 40;

    private static readonly string[] Prompts = ["the ", "", "日本 ", "over the lazy", "a\u0001b", "dog.", "äöü", "fox jumps"];

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task EightThreadsMatchSequentialRuns()
    {
        using var model = LoadModels.Load();
        using var client = new TransformerChatClient(model, new GenerationOptions { StopOnEndOfSequence = false });
        var expected = new string[Threads][];
        for (int thread = 0; thread < Threads; thread++)
        {
            expected[thread] = await RunCallsAsync(model, client, thread);
        }

        var actual = new string[Threads, Rounds][];
        using var start = new Barrier(Threads);
        var tasks = Enumerable.Range(0, Threads).Select(thread => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (int round = 0; round < Rounds; round++)
            {
                actual[thread, round] = RunCallsAsync(model, client, thread).GetAwaiter().GetResult();
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(tasks);

        int tokens = 0;
        for (int thread = 0; thread < Threads; thread++)
        {
            for (int round = 0; round < Rounds; round++)
            {
                for (int call = 0; call < expected[thread].Length; call++)
                {
                    Assert.AreEqual(expected[thread][call], actual[thread, round][call], $"thread {thread}, round {round}, call {call}");
                }
            }

            tokens += Rounds * TokensPerThread;
        }

        TestContext.WriteLine($"{Threads} threads, {Rounds} rounds, {tokens} tokens generated concurrently, all equal to sequential runs");
    }

    [TestMethod]
    public async Task CancellationsDoNotDisturbOtherThreads()
    {
        using var model = LoadModels.Load();
        var options = new GenerationOptions { Temperature = 0.9f, Seed = 3, MaxNewTokens = 120, StopOnEndOfSequence = false };
        var expected = Prompts.Take(4).Select(p => model.Generate(p, options).Text).ToArray();

        // Four threads generate while four others start generations and cancel them after 1 to 8 streamed pieces.
        using var stop = new CancellationTokenSource();
        int cancelled = 0;
        var cancellers = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            for (int attempt = 0; !stop.IsCancellationRequested; attempt++)
            {
                using var cancellation = new CancellationTokenSource();
                int pieces = 0;
                try
                {
                    await foreach (string piece in model.GenerateStreamingAsync(Prompts[4 + i], options, cancellation.Token))
                    {
                        if (++pieces == 1 + (attempt + i) % 8)
                        {
                            cancellation.Cancel();
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref cancelled);
                }
            }
        })).ToArray();

        var generators = Enumerable.Range(0, 4).Select(i => Task.Run(() =>
        {
            for (int round = 0; round < Rounds; round++)
            {
                Assert.AreEqual(expected[i], model.Generate(Prompts[i], options).Text, $"prompt {i}, round {round}");
            }
        })).ToArray();

        try
        {
            await Task.WhenAll(generators);
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(cancellers);
        }

        TestContext.WriteLine($"{cancelled} generations were cancelled while 4 threads generated {4 * Rounds} results");
        Assert.IsTrue(cancelled >= 4, $"only {cancelled} generations were cancelled during the test, so it did not overlap cancellations with generations");
    }

    // Every call is greedy or seeded and ignores the end-of-sequence token, so its output is fixed and it generates 40 tokens per sequence.
    private static async Task<string[]> RunCallsAsync(TransformerModel model, IChatClient client, int thread)
    {
        var greedy = new GenerationOptions { Temperature = 0, MaxNewTokens = 40, StopOnEndOfSequence = false };
        var seeded = new GenerationOptions { Temperature = 1.2f, TopK = 15, Seed = 100 + thread, MaxNewTokens = 40, StopOnEndOfSequence = false };
        string prompt = Prompts[thread];
        var results = new List<string>
        {
            model.Generate(prompt, greedy).Text,
            model.Generate(prompt, seeded).Text,
        };

        results.AddRange(model.GenerateBatch([prompt, Prompts[(thread + 1) % Threads], Prompts[(thread + 2) % Threads]], seeded).Select(r => r.Text));

        var streamed = new StringBuilder();
        await foreach (string piece in model.GenerateStreamingAsync(prompt, seeded with { Seed = 200 + thread }))
        {
            streamed.Append(piece);
        }

        results.Add(streamed.ToString());

        var chatOptions = new ChatOptions { Temperature = 0.8f, Seed = 300 + thread, MaxOutputTokens = 40 };
        results.Add((await client.GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], chatOptions)).Text);
        return [.. results];
    }
}

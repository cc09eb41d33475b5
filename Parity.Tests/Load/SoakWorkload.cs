using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Load;

/// <summary>
/// One fixed cycle of requests that uses every generation path: greedy and seeded <c>Generate</c>, an empty prompt,
/// unknown characters, a batch of four and streaming. Every request is deterministic and ignores the
/// end-of-sequence token, so each cycle generates the same texts and exactly <see cref="TokensPerCycle"/> tokens.
/// </summary>
internal static class SoakWorkload
{
    /// <summary>Tokens one cycle generates: 200 + 200 + 4 × 100 + 200.</summary>
    public const int TokensPerCycle = 1_000;

    private static readonly GenerationOptions Greedy = new() { Temperature = 0, MaxNewTokens = 200, StopOnEndOfSequence = false };
    private static readonly GenerationOptions Sampled = new() { Temperature = 1.1f, TopK = 20, TopP = 0.95f, Seed = 5, MaxNewTokens = 200, StopOnEndOfSequence = false };
    private static readonly string[] BatchPrompts = ["the quick brown fox", "", "日本 äöü €", "a\u0001b\u0002c"];

    /// <summary>
    /// Runs one cycle and returns the generated texts in request order. Every call gets <paramref name="cancellationToken"/>;
    /// pass the token of a source that outlives the soak, as an application's shutdown token does, so that a
    /// registration left on it by any call would accumulate.
    /// </summary>
    public static async Task<IReadOnlyList<string>> RunCycleAsync(TransformerModel model, CancellationToken cancellationToken)
    {
        var texts = new List<string>
        {
            model.Generate("the lazy dog. ", Greedy, cancellationToken).Text,
            model.Generate("", Sampled, cancellationToken).Text,
        };

        foreach (var result in model.GenerateBatch(BatchPrompts, Sampled with { MaxNewTokens = 100, Seed = 9 }, cancellationToken))
        {
            texts.Add(result.Text);
        }

        var streamed = new System.Text.StringBuilder();
        await foreach (string piece in model.GenerateStreamingAsync("über ", Sampled with { Seed = 13 }, cancellationToken))
        {
            streamed.Append(piece);
        }

        texts.Add(streamed.ToString());
        return texts;
    }
}

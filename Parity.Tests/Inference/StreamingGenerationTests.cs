using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class StreamingGenerationTests
{
    private static readonly GenerationOptions Sampling = new() { Temperature = 1.5f, Seed = 77, MaxNewTokens = 40, StopOnEndOfSequence = false };

    [TestMethod]
    public async Task StreamConcatenationEqualsGenerate()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        var expected = model.Generate("日本", Sampling);

        var pieces = new List<string>();
        await foreach (string piece in model.GenerateStreamingAsync("日本", Sampling))
        {
            pieces.Add(piece);
        }

        Assert.AreEqual(expected.Text, string.Concat(pieces));
        Assert.IsTrue(pieces.Count > 1, "the text arrived in one piece, so nothing was streamed");
        Assert.IsTrue(pieces.All(p => p.Length > 0), "an empty piece was streamed");
        Assert.IsTrue(expected.Text.Any(c => c > 0x7F), "the sample has no multi-byte characters, so this test proves less than intended");
    }

    [TestMethod]
    public async Task StreamStopsAtStopString()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        var full = model.Generate("ab", Sampling);
        string stop = full.Text.Substring(10, 2);
        var options = Sampling with { StopStrings = [stop] };
        var expected = model.Generate("ab", options);

        var pieces = new List<string>();
        await foreach (string piece in model.GenerateStreamingAsync("ab", options))
        {
            pieces.Add(piece);
        }

        Assert.AreEqual(StopReason.StopString, expected.StopReason);
        Assert.AreEqual(expected.Text, string.Concat(pieces));
        Assert.IsFalse(string.Concat(pieces).Contains(stop, StringComparison.Ordinal), "the stop string was streamed");
    }

    [TestMethod]
    public async Task CancellationEndsStream()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        using var cancellation = new CancellationTokenSource();
        int pieces = 0;

        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (string piece in model.GenerateStreamingAsync("ab", Sampling, cancellation.Token))
            {
                pieces++;
                cancellation.Cancel();
            }
        });

        Assert.AreEqual(1, pieces);
    }

    [TestMethod]
    public void InvalidOptionsThrowBeforeEnumeration()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.GenerateStreamingAsync("ab", new GenerationOptions { TopP = 0 }));
        Assert.ThrowsExactly<ArgumentException>(() => model.GenerateStreamingAsync(new string('a', 64), new GenerationOptions { MaxNewTokens = 1 }));
    }
}

using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using SimpleTransformer.Inference.AI;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Runtime;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Parity.Tests.Inference;

namespace SimpleTransformer.Parity.Tests.Load;

/// <summary>
/// Prompts at the edges of what the documentation defines: empty, filling the context exactly, one token too long,
/// longer than the context, and made only of characters outside the vocabulary. Each is checked through every
/// generation path. The model is the 64-token test model, so every number below is relative to a context of 64.
/// </summary>
[TestClass]
public sealed class PromptBoundaryTests
{
    private const int Context = 64;

    private static readonly GenerationOptions Greedy = new() { Temperature = 0, MaxNewTokens = 10, StopOnEndOfSequence = false };

    [TestMethod]
    public void OnlyUnknownCharactersEncodeAsUnknown()
    {
        var logger = new TestLogger();
        using var model = TransformerModel.Load(InferenceModels.Directory(), new ModelOptions { Logger = logger });
        using var reference = new UncachedReference(InferenceModels.Directory());

        // Control characters, Cyrillic, an emoji outside the vocabulary and a lone surrogate.
        const string prompt = "\u0001\u0002ЖЯ😀\uD800";
        var result = model.Generate(prompt, Greedy);

        CollectionAssert.AreEqual(Enumerable.Repeat(CharTokenizer.Unknown, 6).ToArray(), model.Tokenizer.Encode(prompt));
        Assert.AreEqual(6, result.PromptTokenCount);
        CollectionAssert.AreEqual(reference.Greedy(Enumerable.Repeat(CharTokenizer.Unknown, 6).ToArray(), Greedy.MaxNewTokens, eosId: -1), result.TokenIds.ToArray());
        var warnings = logger.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message).ToArray();
        Assert.AreEqual(1, warnings.Length, $"expected one warning, got: {string.Join(" | ", warnings)}");
        StringAssert.Contains(warnings[0], "The prompt contains 6 characters outside the vocabulary");
    }

    [TestMethod]
    public async Task UnknownCharactersAgreeAcrossPaths()
    {
        var logger = new TestLogger();
        using var model = TransformerModel.Load(InferenceModels.Directory(), new ModelOptions { Logger = logger });
        const string prompt = "ЖЖ a";
        var single = model.Generate(prompt, Greedy);

        var batch = model.GenerateBatch(["ab", prompt], Greedy);
        string streamed = await StreamAsync(model, prompt, Greedy);

        Assert.AreEqual(single.Text, batch[1].Text, "batch row");
        Assert.AreEqual(single.Text, streamed, "stream");
        Assert.IsTrue(logger.Entries.Any(e => e.Level == LogLevel.Warning && e.Message.Contains("Prompt 1 contains 2 characters outside the vocabulary")),
            "the batch warning does not name prompt 1");
    }

    [TestMethod]
    public async Task EmptyPromptAgreesAcrossPaths()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        using var client = new TransformerChatClient(model, Greedy);
        var single = model.Generate("", Greedy);

        var batch = model.GenerateBatch(["", "the fox"], Greedy);
        string streamed = await StreamAsync(model, "", Greedy);
        var response = await client.GetResponseAsync([]);

        Assert.AreEqual(1, single.PromptTokenCount);
        Assert.AreEqual(single.Text, batch[0].Text, "batch row");
        Assert.AreEqual(1, batch[0].PromptTokenCount);
        Assert.AreEqual(single.Text, streamed, "stream");
        Assert.AreEqual(single.Text, response.Text, "chat client with no messages");
        Assert.AreEqual(1, response.Usage?.InputTokenCount, "chat client input tokens");
    }

    [TestMethod]
    public void EmptyPromptCountsStartToken()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        var full = model.Generate("", Greedy with { MaxNewTokens = Context - 1 });
        var error = Assert.ThrowsExactly<ArgumentException>(() => model.Generate("", Greedy with { MaxNewTokens = Context }));

        Assert.AreEqual(Context - 1, full.TokenCount);
        StringAssert.Contains(error.Message, "counts its start token (1 token)");
        StringAssert.Contains(error.Message, $"MaxNewTokens is {Context}, {Context + 1} in all");
        StringAssert.Contains(error.Message, $"Set MaxNewTokens to at most {Context - 1}");
    }

    [TestMethod]
    public async Task PromptFillingContextIsAcceptedEverywhere()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        using var client = new TransformerChatClient(model, Greedy);
        string prompt = new('a', Context - Greedy.MaxNewTokens);

        var single = model.Generate(prompt, Greedy);
        var batch = model.GenerateBatch(["b", prompt], Greedy);
        string streamed = await StreamAsync(model, prompt, Greedy);
        var response = await client.GetResponseAsync(prompt);

        Assert.AreEqual(Greedy.MaxNewTokens, single.TokenCount);
        Assert.AreEqual(single.Text, batch[1].Text, "batch row");
        Assert.AreEqual(single.Text, streamed, "stream");
        Assert.AreEqual(single.Text, response.Text, "chat client");
        Assert.AreEqual(Context - Greedy.MaxNewTokens, response.Usage?.InputTokenCount);
    }

    [TestMethod]
    public async Task PromptOneTokenOverIsRejectedEverywhere()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        using var client = new TransformerChatClient(model, Greedy);
        string prompt = new('a', Context - Greedy.MaxNewTokens + 1);
        string expected = $"has {prompt.Length} tokens and MaxNewTokens is {Greedy.MaxNewTokens}, {Context + 1} in all, but the model's context (max_position_embeddings) is {Context} tokens";

        var single = Assert.ThrowsExactly<ArgumentException>(() => model.Generate(prompt, Greedy));
        var batch = Assert.ThrowsExactly<ArgumentException>(() => model.GenerateBatch(["b", prompt], Greedy));
        var stream = Assert.ThrowsExactly<ArgumentException>(() => model.GenerateStreamingAsync(prompt, Greedy));
        var chat = await Assert.ThrowsExactlyAsync<ArgumentException>(() => client.GetResponseAsync(prompt));

        StringAssert.Contains(single.Message, expected);
        StringAssert.Contains(single.Message, $"Shorten the prompt to at most {Context - Greedy.MaxNewTokens} tokens or set MaxNewTokens to at most {Greedy.MaxNewTokens - 1}");
        StringAssert.Contains(batch.Message, "Prompt 1 " + expected);
        StringAssert.Contains(stream.Message, expected);
        StringAssert.Contains(chat.Message, expected);
    }

    [TestMethod]
    public void PromptLongerThanContextNamesLimit()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        var error = Assert.ThrowsExactly<ArgumentException>(() => model.Generate(new string('a', 100), Greedy with { MaxNewTokens = 1 }));

        StringAssert.Contains(error.Message, "has 100 tokens and MaxNewTokens is 1, 101 in all");
        StringAssert.Contains(error.Message, $"Shorten the prompt to at most {Context - 1} tokens.");
        Assert.IsFalse(error.Message.Contains("set MaxNewTokens", StringComparison.Ordinal), "no MaxNewTokens value can make this prompt fit");
    }

    [TestMethod]
    public void PromptAndMaxNewTokensBothBeyondContext_SuggestNoNegativeLimit()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        var error = Assert.ThrowsExactly<ArgumentException>(() => model.Generate(new string('a', 100), Greedy with { MaxNewTokens = 100 }));

        StringAssert.Contains(error.Message, $"so that together they are at most {Context} tokens");
        Assert.IsFalse(error.Message.Contains("at most -", StringComparison.Ordinal), error.Message);
    }

    [TestMethod]
    public void MaxNewTokensBeyondContextNamesLimit()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        var error = Assert.ThrowsExactly<ArgumentException>(() => model.Generate("ab", Greedy with { MaxNewTokens = 100 }));

        StringAssert.Contains(error.Message, "has 2 tokens and MaxNewTokens is 100, 102 in all");
        StringAssert.Contains(error.Message, $"Set MaxNewTokens to at most {Context - 2}");
    }

    private static async Task<string> StreamAsync(TransformerModel model, string prompt, GenerationOptions options)
    {
        var text = new StringBuilder();
        await foreach (string piece in model.GenerateStreamingAsync(prompt, options))
        {
            text.Append(piece);
        }

        return text.ToString();
    }
}

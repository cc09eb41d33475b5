using System.Text;
using Microsoft.Extensions.AI;
using SimpleTransformer.Inference.AI;
using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Load;

/// <summary>
/// <see cref="TransformerChatClient"/> through the <see cref="IChatClient"/> interface, on a real exported model with a
/// 256-token context: every response must equal <see cref="TransformerModel.Generate"/> on the documented prompt with
/// the mapped options.
/// </summary>
[TestClass]
public sealed class ChatClientTests
{
    private static readonly GenerationOptions Defaults = new() { StopOnEndOfSequence = false, MaxNewTokens = 20 };

    private static readonly ChatOptions Sampling = new() { MaxOutputTokens = 30, Temperature = 0.9f, TopK = 20, TopP = 0.9f, Seed = 42 };

    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "be brief."),
        new(ChatRole.User, "the quick brown fox"),
        new(ChatRole.Assistant, "jumps"),
        new(ChatRole.User, "over the"),
    ];

    private static readonly GenerationOptions SamplingAsGeneration = Defaults with { MaxNewTokens = 30, Temperature = 0.9f, TopK = 20, TopP = 0.9f, Seed = 42 };

    [TestMethod]
    public async Task ResponseEqualsGenerate()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults);
        var expected = model.Generate("be brief.\nthe quick brown fox\njumps\nover the", SamplingAsGeneration);

        var response = await client.GetResponseAsync(Conversation, Sampling);

        Assert.AreEqual(expected.Text, response.Text);
        Assert.AreEqual(1, response.Messages.Count);
        Assert.AreEqual(ChatRole.Assistant, response.Messages[0].Role);
        Assert.AreEqual(ChatFinishReason.Length, response.FinishReason);
        Assert.AreEqual(expected.PromptTokenCount, response.Usage?.InputTokenCount);
        Assert.AreEqual(30, response.Usage?.OutputTokenCount);
        Assert.AreEqual(expected.PromptTokenCount + 30, response.Usage?.TotalTokenCount);
        Assert.AreEqual(Path.GetFileName(LoadModels.Directory), response.ModelId);
        Assert.IsFalse(string.IsNullOrEmpty(response.ResponseId));
        CollectionAssert.AreEqual(expected.TokenIds.ToArray(), ((GenerationResult)response.RawRepresentation!).TokenIds.ToArray());
    }

    [TestMethod]
    public async Task InstructionsComeFirst()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults);
        var expected = model.Generate("say it.\nthe fox", SamplingAsGeneration);
        var withoutInstructions = model.Generate("the fox", SamplingAsGeneration);

        var options = Sampling.Clone();
        options.Instructions = "say it.";

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "the fox")], options);

        Assert.AreEqual(expected.Text, response.Text);
        Assert.AreEqual(expected.PromptTokenCount, response.Usage?.InputTokenCount);
        Assert.AreNotEqual(withoutInstructions.Text, response.Text, "the instructions changed nothing, so this test proves nothing");
    }

    [TestMethod]
    public async Task StreamConcatenatesToResponse()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults);
        var options = new ChatOptions { MaxOutputTokens = 40, Temperature = 1.5f, Seed = 77 };
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "日本")], options);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "日本")], options))
        {
            updates.Add(update);
        }

        Assert.AreEqual(response.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.IsTrue(updates.Count > 2, $"the text arrived in {updates.Count - 1} pieces, so nothing was streamed");
        Assert.IsTrue(response.Text.Any(c => c > 0x7F), "the sample has no multi-byte characters, so this test proves less than intended");
        Assert.AreEqual(1, updates.Select(u => u.ResponseId).Distinct().Count(), "updates carry different response ids");
        Assert.IsTrue(updates.All(u => u.Role == ChatRole.Assistant));

        var last = updates[^1];
        Assert.AreEqual(ChatFinishReason.Length, last.FinishReason);
        Assert.AreEqual("", last.Text);
        var usage = last.Contents.OfType<UsageContent>().Single().Details;
        Assert.AreEqual(response.Usage?.InputTokenCount, usage.InputTokenCount);
        Assert.AreEqual(40, usage.OutputTokenCount);
        Assert.IsTrue(updates.Take(updates.Count - 1).All(u => u.FinishReason is null), "a text update carries a finish reason");

        var combined = updates.ToChatResponse();
        Assert.AreEqual(response.Text, combined.Text);
        Assert.AreEqual(40, combined.Usage?.OutputTokenCount);
        Assert.AreEqual(ChatFinishReason.Length, combined.FinishReason);
    }

    [TestMethod]
    public async Task StreamedHistoryCanBeSentBack()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults);
        var history = new List<ChatMessage> { new(ChatRole.User, "the fox") };
        var first = await client.GetStreamingResponseAsync(history, Sampling).ToChatResponseAsync();
        history.AddMessages(first);
        history.Add(new ChatMessage(ChatRole.User, "and"));

        var second = await client.GetResponseAsync(history, Sampling);

        Assert.AreEqual(model.Generate($"the fox\n{first.Text}\nand", SamplingAsGeneration).Text, second.Text);
    }

    [TestMethod]
    public async Task StopSequenceEndsResponse()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults);
        string full = (await client.GetResponseAsync("hello", Sampling)).Text;
        string stop = full.Substring(8, 2);
        var options = Sampling.Clone();
        options.StopSequences = ["no such text", stop];
        var expected = model.Generate("hello", SamplingAsGeneration with { StopStrings = ["no such text", stop] });

        var response = await client.GetResponseAsync("hello", options);
        var streamed = await client.GetStreamingResponseAsync("hello", options).ToChatResponseAsync();

        Assert.AreEqual(StopReason.StopString, expected.StopReason);
        Assert.AreEqual(expected.Text, response.Text);
        Assert.AreEqual(full[..full.IndexOf(stop, StringComparison.Ordinal)], response.Text);
        Assert.AreEqual(ChatFinishReason.Stop, response.FinishReason);
        Assert.AreEqual(expected.Text, streamed.Text);
        Assert.AreEqual(ChatFinishReason.Stop, streamed.FinishReason);
    }

    [TestMethod]
    public async Task EachOptionReachesGenerate()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults with { Temperature = 1.2f, Seed = 1 });
        var cases = new (string Name, ChatOptions Chat, GenerationOptions Generation)[]
        {
            ("none", new ChatOptions(), Defaults with { Temperature = 1.2f, Seed = 1 }),
            ("MaxOutputTokens", new ChatOptions { MaxOutputTokens = 7 }, Defaults with { Temperature = 1.2f, Seed = 1, MaxNewTokens = 7 }),
            ("Temperature", new ChatOptions { Temperature = 0 }, Defaults with { Temperature = 0, Seed = 1 }),
            ("TopK", new ChatOptions { TopK = 2 }, Defaults with { Temperature = 1.2f, Seed = 1, TopK = 2 }),
            ("TopP", new ChatOptions { TopP = 0.3f }, Defaults with { Temperature = 1.2f, Seed = 1, TopP = 0.3f }),
            ("Seed", new ChatOptions { Seed = 99 }, Defaults with { Temperature = 1.2f, Seed = 99 }),
        };
        string baseline = model.Generate("the ", cases[0].Generation).Text;

        foreach (var (name, chat, generation) in cases)
        {
            string expected = model.Generate("the ", generation).Text;
            var response = await client.GetResponseAsync("the ", chat);

            Assert.AreEqual(expected, response.Text, name);
            if (name != "none")
            {
                Assert.AreNotEqual(baseline, response.Text, $"{name} did not change the output, so this case proves nothing");
            }
        }
    }

    [TestMethod]
    public async Task CancelledRequestsThrow()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults);
        var expected = await client.GetResponseAsync("ab", Sampling);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        await Assert.ThrowsAsync<OperationCanceledException>(() => client.GetResponseAsync("ab", Sampling, cancelled.Token));

        using var midway = new CancellationTokenSource();
        int updates = 0;
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("ab", Sampling, midway.Token))
            {
                if (++updates == 3)
                {
                    midway.Cancel();
                }
            }
        });

        Assert.AreEqual(3, updates);
        Assert.AreEqual(expected.Text, (await client.GetResponseAsync("ab", Sampling)).Text, "a response after the cancellations");
    }

    [TestMethod]
    public async Task NonTextContentRejected()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model, Defaults);
        var message = new ChatMessage(ChatRole.User, [new TextContent("look: "), new DataContent(new byte[] { 1, 2 }, "image/png")]);

        var error = await Assert.ThrowsExactlyAsync<NotSupportedException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.System, "hi"), message]));

        StringAssert.Contains(error.Message, "Message 1 (user) contains DataContent");
    }

    [TestMethod]
    public void GetServiceReturnsMetadataClientAndModel()
    {
        using var model = LoadModels.Load();
        IChatClient client = new TransformerChatClient(model);

        var metadata = client.GetService<ChatClientMetadata>();

        Assert.AreEqual(TransformerChatClient.ProviderName, metadata?.ProviderName);
        Assert.AreEqual(Path.GetFileName(LoadModels.Directory), metadata?.DefaultModelId);
        Assert.AreEqual(new Uri(model.Directory), metadata?.ProviderUri);
        Assert.AreSame(client, client.GetService<TransformerChatClient>());
        Assert.AreSame(model, client.GetService<TransformerModel>());
        Assert.IsNull(client.GetService<TransformerModel>("some key"));
        Assert.IsNull(client.GetService<StringBuilder>());
    }

    [TestMethod]
    public void DisposeLeavesModelUsable()
    {
        using var model = LoadModels.Load();
        var client = new TransformerChatClient(model, Defaults);

        client.Dispose();

        Assert.AreEqual(Defaults.MaxNewTokens, model.Generate("ab", Defaults).TokenCount);
    }
}

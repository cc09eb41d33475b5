using Microsoft.Extensions.AI;
using SimpleTransformer.Inference.AI;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Parity.Tests.Inference;

namespace SimpleTransformer.Parity.Tests.Load;

[TestClass]
public sealed class ChatOptionsMappingTests
{
    private static readonly GenerationOptions Defaults = new()
    {
        MaxNewTokens = 50,
        Temperature = 0.7f,
        TopK = 5,
        TopP = 0.8f,
        RepetitionPenalty = 1.3f,
        Seed = 4,
        StopOnEndOfSequence = false,
        StopStrings = ["x"],
    };

    [TestMethod]
    public void NullOptionsKeepDefaults()
    {
        Assert.AreSame(Defaults, ChatOptionsMapping.ToGenerationOptions(null, Defaults));
        Assert.AreEqual(Defaults, ChatOptionsMapping.ToGenerationOptions(new ChatOptions(), Defaults));
    }

    [TestMethod]
    public void EverySettingMaps()
    {
        var chat = new ChatOptions { MaxOutputTokens = 9, Temperature = 0, TopK = 3, TopP = 0.5f, Seed = -12, StopSequences = ["a", "bc"] };

        var options = ChatOptionsMapping.ToGenerationOptions(chat, Defaults);

        Assert.AreEqual(9, options.MaxNewTokens);
        Assert.AreEqual(0f, options.Temperature);
        Assert.AreEqual(3, options.TopK);
        Assert.AreEqual(0.5f, options.TopP);
        Assert.AreEqual(-12, options.Seed);
        CollectionAssert.AreEqual(new[] { "a", "bc" }, options.StopStrings.ToArray());
        Assert.AreEqual(1.3f, options.RepetitionPenalty, "a setting without a ChatOptions counterpart keeps its default");
        Assert.IsFalse(options.StopOnEndOfSequence, "a setting without a ChatOptions counterpart keeps its default");
    }

    [TestMethod]
    public void UnsetSettingsKeepDefaults()
    {
        var options = ChatOptionsMapping.ToGenerationOptions(new ChatOptions { Temperature = 1.5f }, Defaults);

        Assert.AreEqual(Defaults with { Temperature = 1.5f }, options);
    }

    [TestMethod]
    public void StopSequencesAreCopied()
    {
        var stops = new List<string> { "a" };

        var options = ChatOptionsMapping.ToGenerationOptions(new ChatOptions { StopSequences = stops }, Defaults);
        stops.Add("b");

        CollectionAssert.AreEqual(new[] { "a" }, options.StopStrings.ToArray());
    }

    [TestMethod]
    [DataRow("MaxOutputTokens", "MaxNewTokens is 0")]
    [DataRow("Temperature", "Temperature is -1")]
    [DataRow("TopK", "TopK is -1")]
    [DataRow("TopP", "TopP is 0")]
    [DataRow("Seed", "ChatOptions.Seed is 4294967296")]
    public void InvalidValueNamesChatProperty(string property, string message)
    {
        var chat = property switch
        {
            "MaxOutputTokens" => new ChatOptions { MaxOutputTokens = 0 },
            "Temperature" => new ChatOptions { Temperature = -1 },
            "TopK" => new ChatOptions { TopK = -1 },
            "TopP" => new ChatOptions { TopP = 0 },
            _ => new ChatOptions { Seed = 1L << 32 },
        };

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ChatOptionsMapping.ToGenerationOptions(chat, Defaults));

        Assert.AreEqual($"ChatOptions.{property}", error.ParamName);
        StringAssert.Contains(error.Message, message);
    }

    [TestMethod]
    public void EmptyStopSequenceNamesChatProperty()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => ChatOptionsMapping.ToGenerationOptions(new ChatOptions { StopSequences = ["ok", ""] }, Defaults));

        Assert.AreEqual("ChatOptions.StopSequences", error.ParamName);
        StringAssert.Contains(error.Message, "StopStrings[1] is empty");
    }

    [TestMethod]
    [DataRow("Tools")]
    [DataRow("ResponseFormat")]
    [DataRow("FrequencyPenalty")]
    [DataRow("PresencePenalty")]
    [DataRow("ContinuationToken")]
    public void UnsupportedSettingRejected(string property)
    {
        var chat = property switch
        {
            "Tools" => new ChatOptions { Tools = [new NamedTool()] },
            "ResponseFormat" => new ChatOptions { ResponseFormat = ChatResponseFormat.Json },
            "FrequencyPenalty" => new ChatOptions { FrequencyPenalty = 0.5f },
            "PresencePenalty" => new ChatOptions { PresencePenalty = 0.5f },
            _ => new ChatOptions { ContinuationToken = ResponseContinuationToken.FromBytes(new byte[] { 1 }) },
        };

        var error = Assert.ThrowsExactly<NotSupportedException>(() => ChatOptionsMapping.ToGenerationOptions(chat, Defaults));

        StringAssert.Contains(error.Message, $"ChatOptions.{property}");
    }

    [TestMethod]
    public void NeutralSettingsAccepted()
    {
        var chat = new ChatOptions { Tools = [], ResponseFormat = ChatResponseFormat.Text, FrequencyPenalty = 0, PresencePenalty = 0, ModelId = "other", ConversationId = "c1" };

        Assert.AreEqual(Defaults, ChatOptionsMapping.ToGenerationOptions(chat, Defaults));
    }

    [TestMethod]
    public void StopReasonsMapToFinishReasons()
    {
        Assert.AreEqual(ChatFinishReason.Stop, ChatOptionsMapping.ToFinishReason(StopReason.EndOfSequence));
        Assert.AreEqual(ChatFinishReason.Stop, ChatOptionsMapping.ToFinishReason(StopReason.StopString));
        Assert.AreEqual(ChatFinishReason.Length, ChatOptionsMapping.ToFinishReason(StopReason.MaxNewTokens));
        Assert.HasCount(3, Enum.GetValues<StopReason>(), "a new stop reason needs a finish reason");
    }

    [TestMethod]
    public void UsageCountsPromptAndOutput()
    {
        var usage = ChatOptionsMapping.ToUsage(new GenerationResult("abc", [5, 6, 7], 4, StopReason.MaxNewTokens));

        Assert.AreEqual(4, usage.InputTokenCount);
        Assert.AreEqual(3, usage.OutputTokenCount);
        Assert.AreEqual(7, usage.TotalTokenCount);
    }

    [TestMethod]
    public void InvalidDefaultsRejectedByConstructor()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TransformerChatClient(model, new GenerationOptions { TopP = 2 }));

        Assert.AreEqual(nameof(GenerationOptions.TopP), error.ParamName);
    }

    private sealed class NamedTool : AITool
    {
    }
}

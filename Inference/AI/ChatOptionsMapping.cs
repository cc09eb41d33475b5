using Microsoft.Extensions.AI;
using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Inference.AI;

/// <summary>
/// Converts between the request and response types of Microsoft.Extensions.AI and those of
/// <see cref="TransformerModel"/>.
/// </summary>
internal static class ChatOptionsMapping
{
    /// <summary>
    /// Overrides <paramref name="defaults"/> with every setting <paramref name="chat"/> sets: MaxOutputTokens,
    /// Temperature, TopK, TopP, Seed and StopSequences. Settings that change what the model would output but have no
    /// counterpart here (tools, a JSON response format, frequency and presence penalties, continuation tokens) are
    /// rejected instead of ignored.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range. ParamName is <c>ChatOptions.{property}</c>.</exception>
    /// <exception cref="ArgumentException">A stop sequence is null or empty. ParamName is <c>ChatOptions.StopSequences</c>.</exception>
    /// <exception cref="NotSupportedException">A setting has no counterpart in <see cref="GenerationOptions"/>.</exception>
    public static GenerationOptions ToGenerationOptions(ChatOptions? chat, GenerationOptions defaults)
    {
        if (chat is null)
        {
            return defaults;
        }

        RejectUnsupported(chat);
        var options = defaults with
        {
            MaxNewTokens = chat.MaxOutputTokens ?? defaults.MaxNewTokens,
            Temperature = chat.Temperature ?? defaults.Temperature,
            TopK = chat.TopK ?? defaults.TopK,
            TopP = chat.TopP ?? defaults.TopP,
            Seed = chat.Seed is long seed ? ToInt32Seed(seed) : defaults.Seed,
            StopStrings = chat.StopSequences is { } stops ? [.. stops] : defaults.StopStrings,
        };

        try
        {
            options.Validate();
        }
        catch (ArgumentException e) when (ChatName(e.ParamName) is string chatName)
        {
            // Name the ChatOptions property the caller set as well as the GenerationOptions property it became.
            string paramName = $"ChatOptions.{chatName}";
            string message = $"{paramName} sets GenerationOptions.{e.ParamName}, which rejected it: {OwnMessage(e)}";
            throw e is ArgumentOutOfRangeException range
                ? new ArgumentOutOfRangeException(paramName, range.ActualValue, message)
                : new ArgumentException(message, paramName, e);
        }

        return options;
    }

    /// <summary>
    /// Maps a stop reason: the end-of-sequence token and a stop string to <see cref="ChatFinishReason.Stop"/>, the
    /// token limit to <see cref="ChatFinishReason.Length"/>.
    /// </summary>
    public static ChatFinishReason ToFinishReason(StopReason reason) => reason switch
    {
        StopReason.EndOfSequence or StopReason.StopString => ChatFinishReason.Stop,
        StopReason.MaxNewTokens => ChatFinishReason.Length,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, $"Stop reason {reason} has no ChatFinishReason."),
    };

    /// <summary>Token counts of a result: the prompt's tokens (1 for an empty prompt) as input, the generated tokens as output.</summary>
    public static UsageDetails ToUsage(GenerationResult result) => new()
    {
        InputTokenCount = result.PromptTokenCount,
        OutputTokenCount = result.TokenCount,
        TotalTokenCount = result.PromptTokenCount + result.TokenCount,
    };

    private static void RejectUnsupported(ChatOptions chat)
    {
        if (chat.Tools is { Count: > 0 })
        {
            throw new NotSupportedException(
                $"ChatOptions.Tools has {chat.Tools.Count} tools, but the model cannot call tools. Pass no tools to this client.");
        }

        if (chat.ResponseFormat is not (null or ChatResponseFormatText))
        {
            throw new NotSupportedException(
                "ChatOptions.ResponseFormat requests JSON, but the model generates unconstrained text. Leave ResponseFormat null or set ChatResponseFormat.Text.");
        }

        if (chat.FrequencyPenalty is float frequency && frequency != 0)
        {
            throw new NotSupportedException(
                $"ChatOptions.FrequencyPenalty is {frequency}, but the model supports only a multiplicative repetition penalty. " +
                "Leave FrequencyPenalty unset and pass GenerationOptions.RepetitionPenalty to the TransformerChatClient constructor.");
        }

        if (chat.PresencePenalty is float presence && presence != 0)
        {
            throw new NotSupportedException(
                $"ChatOptions.PresencePenalty is {presence}, but the model supports only a multiplicative repetition penalty. " +
                "Leave PresencePenalty unset and pass GenerationOptions.RepetitionPenalty to the TransformerChatClient constructor.");
        }

        if (chat.ContinuationToken is not null)
        {
            throw new NotSupportedException(
                "ChatOptions.ContinuationToken is set, but this client runs every request to completion and issues no continuation tokens. Leave it null.");
        }
    }

    private static int ToInt32Seed(long seed)
    {
        if (seed is < int.MinValue or > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException("ChatOptions.Seed", seed,
                $"ChatOptions.Seed is {seed}, but the sampler takes a 32-bit seed. Pass a value from {int.MinValue} to {int.MaxValue}.");
        }

        return (int)seed;
    }

    // ArgumentException.Message appends " (Parameter 'name')" and the actual value on a new line; this is the text before them.
    private static string OwnMessage(ArgumentException e) =>
        e.Message.Split('\n')[0].Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);

    private static string? ChatName(string? generationName) => generationName switch
    {
        nameof(GenerationOptions.MaxNewTokens) => nameof(ChatOptions.MaxOutputTokens),
        nameof(GenerationOptions.Temperature) => nameof(ChatOptions.Temperature),
        nameof(GenerationOptions.TopK) => nameof(ChatOptions.TopK),
        nameof(GenerationOptions.TopP) => nameof(ChatOptions.TopP),
        nameof(GenerationOptions.StopStrings) => nameof(ChatOptions.StopSequences),
        _ => null,
    };
}

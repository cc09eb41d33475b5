using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Inference.AI;

/// <summary>
/// An <see cref="IChatClient"/> over a loaded <see cref="TransformerModel"/>, so that code written against
/// Microsoft.Extensions.AI can generate with it. The model is a plain language model without a chat template: the
/// prompt is <see cref="ChatOptions.Instructions"/> (when set) followed by the text of every message, joined by line
/// feeds, and the response is the model's continuation of that text as one assistant message.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="ChatOptions"/> overrides the default <see cref="GenerationOptions"/> given to the constructor:
/// MaxOutputTokens sets MaxNewTokens, and Temperature, TopK, TopP, Seed and StopSequences set the properties of the
/// same meaning. Tools, a JSON response format, frequency or presence penalties and continuation tokens throw
/// <see cref="NotSupportedException"/>. Other settings (ModelId, ConversationId, Reasoning, AllowBackgroundResponses,
/// ToolMode, AdditionalProperties and the rest) are ignored.
/// </para>
/// <para>
/// One client serves concurrent requests, like the model. Disposing the client does not dispose the model.
/// </para>
/// </remarks>
public sealed class TransformerChatClient : IChatClient
{
    /// <summary>The provider name reported in <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "SimpleTransformer";

    private readonly ChatClientMetadata _metadata;

    /// <summary>Creates a client over <paramref name="model"/>, which the caller keeps and disposes.</summary>
    /// <param name="model">The loaded model.</param>
    /// <param name="defaultOptions">
    /// The generation settings for requests that do not override them, <see cref="GenerationOptions"/>' defaults when
    /// null. Settings without a <see cref="ChatOptions"/> counterpart (RepetitionPenalty, StopOnEndOfSequence) come from here.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A default option is out of range.</exception>
    public TransformerChatClient(TransformerModel model, GenerationOptions? defaultOptions = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        defaultOptions ??= new GenerationOptions();
        defaultOptions.Validate();

        Model = model;
        DefaultOptions = defaultOptions;
        ModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Directory));
        _metadata = new ChatClientMetadata(ProviderName, new Uri(model.Directory), ModelId);
    }

    /// <summary>The model this client generates with.</summary>
    public TransformerModel Model { get; }

    /// <summary>The generation settings that <see cref="ChatOptions"/> overrides.</summary>
    public GenerationOptions DefaultOptions { get; }

    /// <summary>The model id reported in responses and metadata: the name of the model directory.</summary>
    public string ModelId { get; }

    /// <summary>
    /// Generates the continuation of the conversation's text on the thread pool and returns it as one assistant
    /// message, with the finish reason and token counts.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt does not fit the model's context, or an option is invalid (from the returned task).</exception>
    /// <exception cref="NotSupportedException">A message contains non-text content, or an option has no counterpart (from the returned task).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        string prompt = ChatPrompt.Build(messages, options?.Instructions);
        var generation = ChatOptionsMapping.ToGenerationOptions(options, DefaultOptions);

        var createdAt = DateTimeOffset.UtcNow;
        var result = await Task.Run(() => Model.Generate(prompt, generation, cancellationToken), cancellationToken).ConfigureAwait(false);

        string responseId = NewId();
        var message = new ChatMessage(ChatRole.Assistant, result.Text)
        {
            MessageId = responseId,
            CreatedAt = createdAt,
            RawRepresentation = result,
        };
        return new ChatResponse(message)
        {
            ResponseId = responseId,
            ModelId = ModelId,
            CreatedAt = createdAt,
            FinishReason = ChatOptionsMapping.ToFinishReason(result.StopReason),
            Usage = ChatOptionsMapping.ToUsage(result),
            RawRepresentation = result,
        };
    }

    /// <summary>
    /// Streams the continuation of the conversation's text: one update per piece of text as tokens arrive (pieces
    /// never split a character or reveal a stop sequence), then a last update without text that carries the finish
    /// reason and a <see cref="UsageContent"/> with the token counts. Arguments are checked when enumeration starts.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt does not fit the model's context, or an option is invalid.</exception>
    /// <exception cref="NotSupportedException">A message contains non-text content, or an option has no counterpart.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string prompt = ChatPrompt.Build(messages, options?.Instructions);
        var generation = ChatOptionsMapping.ToGenerationOptions(options, DefaultOptions);

        string responseId = NewId();
        var createdAt = DateTimeOffset.UtcNow;
        GenerationResult? finished = null;
        var pieces = Model.GenerateStreamingAsync(prompt, generation, result => finished = result, cancellationToken);
        await foreach (string piece in pieces.ConfigureAwait(false))
        {
            yield return NewUpdate(responseId, createdAt, [new TextContent(piece)]);
        }

        // The model calls back with the result before the enumeration above ends, unless it threw.
        var result = finished ?? throw new InvalidOperationException("The stream ended without a result.");
        var last = NewUpdate(responseId, createdAt, [new UsageContent(ChatOptionsMapping.ToUsage(result))]);
        last.FinishReason = ChatOptionsMapping.ToFinishReason(result.StopReason);
        last.RawRepresentation = result;
        yield return last;
    }

    /// <summary>
    /// Returns <see cref="ChatClientMetadata"/>, this client or its <see cref="TransformerModel"/> when
    /// <paramref name="serviceType"/> is assignable from its type and <paramref name="serviceKey"/> is null, and null otherwise.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(ChatClientMetadata))
        {
            return _metadata;
        }

        if (serviceType.IsInstanceOfType(this))
        {
            return this;
        }

        return serviceType.IsInstanceOfType(Model) ? Model : null;
    }

    /// <summary>Does nothing: the model belongs to the caller, who disposes it after the last request.</summary>
    public void Dispose()
    {
    }

    private ChatResponseUpdate NewUpdate(string responseId, DateTimeOffset createdAt, IList<AIContent> contents) => new(ChatRole.Assistant, contents)
    {
        ResponseId = responseId,
        MessageId = responseId,
        ModelId = ModelId,
        CreatedAt = createdAt,
    };

    private static string NewId() => $"st-{Guid.NewGuid():N}";
}

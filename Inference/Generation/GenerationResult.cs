namespace SimpleTransformer.Inference.Generation;

/// <summary>Why generation of a sequence ended.</summary>
public enum StopReason
{
    /// <summary>The model emitted the end-of-sequence token (not included in the result).</summary>
    EndOfSequence,

    /// <summary>The output contained one of <see cref="GenerationOptions.StopStrings"/>.</summary>
    StopString,

    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were generated.</summary>
    MaxNewTokens,
}

/// <summary>The outcome of generating from one prompt.</summary>
/// <param name="Text">The generated text, without the prompt, the end-of-sequence token or a matched stop string.</param>
/// <param name="TokenIds">The generated token ids without the end-of-sequence token. A matched stop string's tokens are included.</param>
/// <param name="PromptTokenCount">Number of tokens the prompt encoded to. An empty prompt counts its one start token.</param>
/// <param name="StopReason">Why generation ended.</param>
public sealed record GenerationResult(string Text, IReadOnlyList<int> TokenIds, int PromptTokenCount, StopReason StopReason)
{
    /// <summary>Number of generated tokens, the length of <see cref="TokenIds"/>.</summary>
    public int TokenCount => TokenIds.Count;
}

namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// Decoding settings for one call. Logits are processed in this order: repetition penalty, temperature,
/// top-k, top-p, then one token is drawn (or the maximum taken when <see cref="Temperature"/> is 0).
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>The maximum number of tokens to generate, at least 1 and 128 by default. Prompt plus new tokens must fit the model's context.</summary>
    public int MaxNewTokens { get; init; } = 128;

    /// <summary>
    /// Softmax temperature: logits are divided by it before sampling. 0 selects greedy decoding (the most likely
    /// token, the lowest id on a tie). The default is 1.
    /// </summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>The number of most likely tokens kept before sampling. 0 (the default) keeps all.</summary>
    public int TopK { get; init; }

    /// <summary>
    /// Nucleus sampling threshold in (0, 1]: sampling keeps the smallest set of most likely tokens whose probabilities
    /// sum to at least <c>TopP</c>. 1 (the default) keeps all.
    /// </summary>
    public float TopP { get; init; } = 1f;

    /// <summary>
    /// CTRL-style penalty for every token already in the prompt or the output: a positive logit is divided by it,
    /// a negative one multiplied. 1 (the default) disables it, and values above 1 discourage repetition.
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>
    /// Seed of the <see cref="Random"/> each sequence draws from, so equal seeds give equal output with the same model,
    /// ONNX Runtime build and .NET version. Null draws a fresh seed.
    /// </summary>
    public int? Seed { get; init; }

    /// <summary>Whether generation stops when the model emits the tokenizer's end-of-sequence id, true by default.</summary>
    public bool StopOnEndOfSequence { get; init; } = true;

    /// <summary>
    /// Strings that end generation as soon as the output contains one of them. The stop string and anything after
    /// it are removed from the returned and streamed text, but its tokens stay in <see cref="GenerationResult.TokenIds"/>.
    /// </summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Checks every setting and throws <see cref="ArgumentOutOfRangeException"/> or <see cref="ArgumentException"/> naming the first invalid one.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, $"MaxNewTokens is {MaxNewTokens}; it must be at least 1.");
        }

        if (!(Temperature >= 0) || !float.IsFinite(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature,
                $"Temperature is {Temperature}; it must be a finite number, 0 for greedy decoding or greater than 0 for sampling.");
        }

        if (TopK < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, $"TopK is {TopK}; it must be 0 (disabled) or a positive count.");
        }

        if (!(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, $"TopP is {TopP}; it must be in (0, 1], where 1 disables nucleus sampling.");
        }

        if (!(RepetitionPenalty > 0) || !float.IsFinite(RepetitionPenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty,
                $"RepetitionPenalty is {RepetitionPenalty}; it must be a finite number greater than 0, where 1 disables it.");
        }

        if (StopStrings is null)
        {
            throw new ArgumentNullException(nameof(StopStrings), "StopStrings is null; pass an empty list for no stop strings.");
        }

        for (int i = 0; i < StopStrings.Count; i++)
        {
            if (string.IsNullOrEmpty(StopStrings[i]))
            {
                throw new ArgumentException($"StopStrings[{i}] is {(StopStrings[i] is null ? "null" : "empty")}; every stop string needs at least one character.", nameof(StopStrings));
            }
        }
    }
}

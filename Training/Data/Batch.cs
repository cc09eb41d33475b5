// Dimension letters: B batch, T tokens.
namespace SimpleTransformer.Training.Data;

/// <summary>One micro-batch in row-major [B, T] arrays.</summary>
/// <param name="Rows">B.</param>
/// <param name="Tokens">T.</param>
/// <param name="InputIds">[B, T] input token ids.</param>
/// <param name="Targets">[B, T] next-token ids, <see cref="IgnoreIndex"/> where nothing is scored.</param>
/// <param name="AttentionMask">[B, T], 1 for real tokens and 0 for padding.</param>
public sealed record Batch(int Rows, int Tokens, long[] InputIds, long[] Targets, long[] AttentionMask)
{
    /// <summary>The target value that the loss ignores.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Number of scored targets.</summary>
    public long ScoredTokens => Targets.LongCount(t => t != IgnoreIndex);
}

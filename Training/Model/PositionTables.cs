// Dimension letters: B batch, T new tokens, P past length, S = P + T, C hidden, H heads, D head size.
using SimpleTransformer.Inference.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Model;

/// <summary>
/// Fixed positional tables and attention biases computed from the configuration, never trained or stored:
/// the sinusoidal table, rotary angles, ALiBi slopes and the additive attention mask.
/// </summary>
public static class PositionTables
{
    /// <summary>The additive score for a masked query-key pair: finite, so a fully masked row stays finite.</summary>
    public const float MaskedScore = -1e9f;

    /// <summary>
    /// Returns the sinusoidal table [positions, C]: column 2i is <c>sin(p / 10000^(2i/C))</c> and column 2i+1 the cosine.
    /// Computed in float64 and rounded once, so both runtimes start from identical values.
    /// </summary>
    public static Tensor Sinusoidal(int positions, int hiddenSize)
    {
        var table = new float[positions * hiddenSize];
        for (int p = 0; p < positions; p++)
        {
            for (int i = 0; i < hiddenSize / 2; i++)
            {
                double angle = p / Math.Pow(10000.0, 2.0 * i / hiddenSize);
                table[p * hiddenSize + 2 * i] = (float)Math.Sin(angle);
                table[p * hiddenSize + 2 * i + 1] = (float)Math.Cos(angle);
            }
        }

        return tensor(table, [positions, hiddenSize]);
    }

    /// <summary>
    /// Returns the rotary cosine and sine tables, each [positions, D/2], for angle <c>p · θ^(-2i/D)</c>.
    /// Computed in float64 and rounded once.
    /// </summary>
    public static (Tensor Cos, Tensor Sin) Rotary(int positions, int headSize, double theta)
    {
        int half = headSize / 2;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int p = 0; p < positions; p++)
        {
            for (int i = 0; i < half; i++)
            {
                double angle = p * Math.Pow(theta, -2.0 * i / headSize);
                cos[p * half + i] = (float)Math.Cos(angle);
                sin[p * half + i] = (float)Math.Sin(angle);
            }
        }

        return (tensor(cos, [positions, half]), tensor(sin, [positions, half]));
    }

    /// <summary>Returns the ALiBi slopes <c>2^(-8(h+1)/H)</c> for each head h, shape [H].</summary>
    public static float[] AlibiSlopes(int heads)
    {
        var slopes = new float[heads];
        for (int h = 0; h < heads; h++)
        {
            slopes[h] = (float)Math.Pow(2.0, -8.0 * (h + 1) / heads);
        }

        return slopes;
    }

    /// <summary>
    /// Builds the additive attention bias [B, 1 or H, T, S]: 0 where the query at cache index P + t may attend
    /// key j, <see cref="MaskedScore"/> elsewhere, plus the ALiBi distance bias when the model uses it.
    /// A key is visible when <c>j ≤ P + t</c>, <c>attentionMask[b, j] = 1</c> and, with a sliding window W,
    /// <c>P + t − j &lt; W</c>.
    /// </summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="attentionMask">[B, S], 1 for real tokens and 0 for padding.</param>
    /// <param name="newTokens">T, the number of queries.</param>
    public static Tensor AttentionBias(ModelConfig config, Tensor attentionMask, long newTokens)
    {
        long total = attentionMask.shape[1];
        long past = total - newTokens;
        var device = attentionMask.device;

        using var keyIndex = arange(total, dtype: int64, device: device).view(1, 1, 1, total);                // [1, 1, 1, S]
        using var queryIndex = arange(past, total, dtype: int64, device: device).view(1, 1, newTokens, 1);    // [1, 1, T, 1]
        using var distance = queryIndex - keyIndex;                                                            // [1, 1, T, S]
        using var causal = distance.ge(0);
        using var padding = attentionMask.ne(0).view(attentionMask.shape[0], 1, 1, total);                    // [B, 1, 1, S]
        var allowed = causal.logical_and(padding);                                                             // [B, 1, T, S]
        if (config.SlidingWindow is int window)
        {
            using var inWindow = distance.lt(window);
            using var previous = allowed;
            allowed = previous.logical_and(inWindow);
        }

        using var zero = zeros(1, dtype: float32, device: device);
        using var masked = full(1, MaskedScore, dtype: float32, device: device);
        var bias = where(allowed, zero, masked);
        allowed.Dispose();
        if (config.PositionEmbedding != PositionEmbedding.Alibi)
        {
            return bias;
        }

        using var slopes = tensor(AlibiSlopes(config.NumHeads), device: device).view(1, config.NumHeads, 1, 1); // [1, H, 1, 1]
        using var alibi = slopes * distance.to(float32).neg();                                                 // [1, H, T, S]
        using var withoutAlibi = bias;
        return withoutAlibi + alibi;                                                                           // [B, H, T, S]
    }

    /// <summary>
    /// Returns position ids [B, T] for the last T entries of <paramref name="attentionMask"/> [B, S]:
    /// <c>max(cumsum(mask) − 1, 0)</c>, so left padding does not shift the positions of real tokens.
    /// </summary>
    public static Tensor PositionIds(Tensor attentionMask, long newTokens)
    {
        long total = attentionMask.shape[1];
        using var cumulative = attentionMask.to(int64).cumsum(1) - 1;
        using var clamped = cumulative.clamp_min(0);
        return clamped.narrow(1, total - newTokens, newTokens).contiguous();
    }
}

// Dimension letters: B batch, T new tokens, P past length, S = P + T, C hidden, H heads, D head size.
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SimpleTransformer.Training.Model;

/// <summary>Which implementation computes <c>softmax(Q Kᵀ / √D + bias) V</c>.</summary>
public enum AttentionKernel
{
    /// <summary>LibTorch's fused <c>scaled_dot_product_attention</c>.</summary>
    Fast,

    /// <summary>Explicit matrix products and softmax: slower, easy to read and to check.</summary>
    Reference,
}

/// <summary>
/// Multi-head self-attention: Q, K and V projections, split into heads, optional rotary rotation, scaled
/// dot-product attention with an additive bias (masks and ALiBi), merged heads and an output projection.
/// Dropout applies to the attention weights and to the output.
/// </summary>
public sealed class MultiHeadAttention : nn.Module
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly Dropout resid_dropout;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly double _attentionDropout;

    /// <summary>Creates the projections for <paramref name="hiddenSize"/> channels split over <paramref name="numHeads"/> heads.</summary>
    /// <param name="hiddenSize">C; must be divisible by <paramref name="numHeads"/>.</param>
    /// <param name="numHeads">H.</param>
    /// <param name="attentionDropout">Dropout probability on attention weights.</param>
    /// <param name="outputDropout">Dropout probability on the output projection.</param>
    public MultiHeadAttention(int hiddenSize, int numHeads, double attentionDropout = 0.0, double outputDropout = 0.0)
        : base(nameof(MultiHeadAttention))
    {
        if (numHeads < 1 || hiddenSize % numHeads != 0)
        {
            throw new ArgumentException($"hiddenSize {hiddenSize} is not divisible by numHeads {numHeads}.", nameof(numHeads));
        }

        _heads = numHeads;
        _headSize = hiddenSize / numHeads;
        _attentionDropout = attentionDropout;
        q_proj = nn.Linear(hiddenSize, hiddenSize);
        k_proj = nn.Linear(hiddenSize, hiddenSize);
        v_proj = nn.Linear(hiddenSize, hiddenSize);
        o_proj = nn.Linear(hiddenSize, hiddenSize);
        resid_dropout = nn.Dropout(outputDropout);
        RegisterComponents();
    }

    /// <summary>The implementation used for the attention product; both give the same result to rounding.</summary>
    public AttentionKernel Kernel { get; set; } = AttentionKernel.Fast;

    /// <summary>Attends the new tokens to the cached and new keys.</summary>
    /// <param name="x">[B, T, C] input.</param>
    /// <param name="bias">[B or 1, 1 or H, T, S] additive bias from <see cref="PositionTables.AttentionBias"/>.</param>
    /// <param name="rotary">Cosine and sine [B, 1, T, D] for the new tokens, or null without rotary embedding.</param>
    /// <param name="past">Keys and values of earlier tokens, or null when there are none.</param>
    /// <returns>The output [B, T, C] and the updated cache [B, H, S, D].</returns>
    public (Tensor Output, LayerCache Present) Forward(Tensor x, Tensor bias, (Tensor Cos, Tensor Sin)? rotary, LayerCache? past)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], tokens = x.shape[1];

        var q = SplitHeads(q_proj.forward(x), batch, tokens);   // [B, H, T, D]
        var k = SplitHeads(k_proj.forward(x), batch, tokens);   // [B, H, T, D]
        var v = SplitHeads(v_proj.forward(x), batch, tokens);   // [B, H, T, D]

        if (rotary is var (cos, sin))
        {
            q = Rotate(q, cos, sin);
            k = Rotate(k, cos, sin);
        }

        if (past is not null)
        {
            k = cat([past.Key, k], 2);   // [B, H, S, D]
            v = cat([past.Value, v], 2); // [B, H, S, D]
        }

        double dropout = training ? _attentionDropout : 0.0;
        var attended = Kernel == AttentionKernel.Fast
            ? F.scaled_dot_product_attention(q, k, v, attn_mask: bias, p: dropout, is_casual: false)
            : ReferenceAttention(q, k, v, bias, dropout);                   // [B, H, T, D]

        var merged = attended.transpose(1, 2).reshape(batch, tokens, -1);  // [B, T, C]
        var output = resid_dropout.forward(o_proj.forward(merged));
        return (output.MoveToOuterDisposeScope(), new LayerCache(k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope()));
    }

    /// <summary>Computes <c>dropout(softmax(Q Kᵀ / √D + bias)) V</c> with explicit operations.</summary>
    private static Tensor ReferenceAttention(Tensor q, Tensor k, Tensor v, Tensor bias, double dropout)
    {
        var scores = q.matmul(k.transpose(2, 3)) / Math.Sqrt(q.shape[3]); // [B, H, T, S]
        var weights = F.softmax(scores + bias, dim: -1);
        if (dropout > 0)
        {
            weights = F.dropout(weights, dropout, training: true);
        }

        return weights.matmul(v);                                          // [B, H, T, D]
    }

    private Tensor SplitHeads(Tensor x, long batch, long tokens) =>
        x.view(batch, tokens, _heads, _headSize).transpose(1, 2);          // [B, T, C] -> [B, H, T, D]

    /// <summary>Rotates pairs <c>(x[i], x[i + D/2])</c> by the angles whose cosine and sine are given ([B, 1, T, D/2]).</summary>
    internal static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[3] / 2;
        var first = x.narrow(3, 0, half);                                  // [B, H, T, D/2]
        var second = x.narrow(3, half, half);                              // [B, H, T, D/2]
        return cat([first * cos - second * sin, second * cos + first * sin], 3); // [B, H, T, D]
    }
}

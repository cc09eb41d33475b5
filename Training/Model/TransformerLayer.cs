// Dimension letters: B batch, T new tokens, S = past + T, C hidden, H heads, D head size.
using SimpleTransformer.Inference.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Model;

/// <summary>
/// One transformer block: self-attention and a feed-forward network, each with a residual connection and a
/// LayerNorm, placed before the sublayer (pre-norm, GPT-2) or after the residual addition (post-norm, the
/// original Transformer).
/// </summary>
public sealed class TransformerLayer : nn.Module
{
    private readonly LayerNorm attn_norm;
    private readonly MultiHeadAttention attn;
    private readonly LayerNorm mlp_norm;
    private readonly FeedForward mlp;
    private readonly NormPosition _normPosition;

    /// <summary>Creates the layer's sublayers from the model configuration.</summary>
    public TransformerLayer(ModelConfig config) : base(nameof(TransformerLayer))
    {
        _normPosition = config.NormPosition;
        attn_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        attn = new MultiHeadAttention(config.HiddenSize, config.NumHeads, config.AttentionDropout, config.HiddenDropout);
        mlp_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        mlp = new FeedForward(config.HiddenSize, config.IntermediateSize, config.Activation, config.HiddenDropout);
        RegisterComponents();
    }

    /// <summary>The layer's attention module.</summary>
    public MultiHeadAttention Attention => attn;

    /// <summary>Runs the block on x [B, T, C]; see <see cref="MultiHeadAttention.Forward"/> for the other arguments.</summary>
    public (Tensor Output, LayerCache Present) Forward(Tensor x, Tensor bias, (Tensor Cos, Tensor Sin)? rotary, LayerCache? past)
    {
        using var scope = NewDisposeScope();
        Tensor output;
        LayerCache present;
        if (_normPosition == NormPosition.Pre)
        {
            (var attended, present) = attn.Forward(attn_norm.forward(x), bias, rotary, past);
            var residual = x + attended;
            output = residual + mlp.forward(mlp_norm.forward(residual));
        }
        else
        {
            (var attended, present) = attn.Forward(x, bias, rotary, past);
            var normed = attn_norm.forward(x + attended);
            output = mlp_norm.forward(normed + mlp.forward(normed));
        }

        present.Key.MoveToOuterDisposeScope();
        present.Value.MoveToOuterDisposeScope();
        return (output.MoveToOuterDisposeScope(), present);
    }
}

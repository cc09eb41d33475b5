// Dimension letters: B batch, T tokens, C hidden, H heads, D head size.
using TorchSharp;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Model;

/// <summary>
/// Gradient checkpointing for one layer, as a custom autograd function. The forward pass runs without
/// recording a graph and keeps only the layer's input. The backward pass runs the layer again with the same
/// random state, so dropout masks repeat, back-propagates through that copy, and returns the input's gradient.
/// Parameter gradients accumulate during that inner backward pass. The gradients equal those of the plain
/// layer, while peak memory holds one layer's activations instead of all of them.
/// </summary>
internal sealed class LayerCheckpoint : autograd.SingleTensorFunction<LayerCheckpoint>
{
    /// <inheritdoc/>
    public override string Name => nameof(LayerCheckpoint);

    /// <summary>Runs <paramref name="layer"/> on x [B, T, C] under checkpointing; the returned cache is empty.</summary>
    public static (Tensor Output, LayerCache Present) Run(TransformerLayer layer, Tensor x, Tensor bias, (Tensor Cos, Tensor Sin)? rotary)
    {
        var output = apply(x, layer, bias, rotary is var (cos, sin) ? new Tensor[] { cos, sin } : Array.Empty<Tensor>());
        return (output, new LayerCache(empty(0), empty(0)));
    }

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var layer = (TransformerLayer)vars[1];
        var bias = (Tensor)vars[2];
        var rotary = (Tensor[])vars[3];

        var saved = new List<Tensor> { x, bias, get_rng_state() };
        saved.AddRange(rotary);
        ctx.save_for_backward(saved);
        ctx.save_data("layer", layer);

        var (output, present) = layer.Forward(x, bias, ToPair(rotary), past: null);
        present.Dispose();
        return output;
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        var saved = ctx.get_saved_variables();
        var layer = (TransformerLayer)ctx.get_data("layer");
        var rotary = saved.Count > 3 ? new[] { saved[3], saved[4] } : Array.Empty<Tensor>();

        using var currentRng = get_rng_state();
        set_rng_state(saved[2]);
        using var input = saved[0].detach().requires_grad_(true);
        using (enable_grad())
        {
            var (output, present) = layer.Forward(input, saved[1], ToPair(rotary), past: null);
            present.Dispose();
            autograd.backward(output, grad_output);
            output.Dispose();
        }

        set_rng_state(currentRng);
        var gradInput = input.grad!.detach().clone();
        // One gradient per argument of apply: x, layer, bias and the rotary tables; only x receives one.
        return [gradInput, null!, null!, null!];
    }

    private static (Tensor, Tensor)? ToPair(Tensor[] rotary) => rotary.Length == 2 ? (rotary[0], rotary[1]) : null;
}

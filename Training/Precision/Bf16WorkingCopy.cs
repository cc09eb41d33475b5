using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Precision;

/// <summary>
/// A bfloat16 copy of an fp32 model for mixed-precision training. Each optimizer step:
/// <list type="number">
/// <item><see cref="CopyWeightsFromMaster"/> rounds the fp32 master weights into the copy (round to nearest even).</item>
/// <item>The forward and backward passes run on <see cref="Model"/>; the caller casts the logits to fp32 before the loss.</item>
/// <item><see cref="AddGradientsToMaster"/> adds the bf16 gradients, widened to fp32, to the master parameters'
/// <c>.grad</c> after each micro-batch, so gradient accumulation sums in fp32.</item>
/// <item>Clipping and AdamW run on the fp32 master parameters.</item>
/// </list>
/// bfloat16 has fp32's 8-bit exponent, so gradients do not underflow the way fp16 gradients do and no loss scaling is needed.
/// </summary>
/// <remarks>
/// The model casts its fp32 rotary and sinusoidal tables and its attention bias to the weights' dtype, because
/// LibTorch's attention requires q, k, v and the mask to share one dtype. NOTE: an ALiBi bias in bf16 keeps 8
/// significant bits, so at a distance of 256 the bias of the steepest head (slope 1/2) is rounded by up to 0.5.
/// </remarks>
public sealed class Bf16WorkingCopy : IDisposable
{
    private readonly List<(string Name, Parameter Master, Parameter Working)> _pairs;

    /// <summary>Builds the bf16 copy of <paramref name="master"/>, with its checkpointing and attention settings.</summary>
    public Bf16WorkingCopy(Model.SimpleTransformer master)
    {
        Model = new Model.SimpleTransformer(master.Config)
        {
            GradientCheckpointing = master.GradientCheckpointing,
            Kernel = master.Kernel,
        };
        Model.to(bfloat16);

        var working = Model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        _pairs = [.. master.named_parameters().Select(p => (p.name, p.parameter, working[p.name]))];
        CopyWeightsFromMaster();
    }

    /// <summary>The bf16 model that runs the forward and backward passes.</summary>
    public Model.SimpleTransformer Model { get; }

    /// <summary>Number of bytes the copy's weights occupy (2 per value).</summary>
    public long WeightBytes => Model.ParameterCount() * 2;

    /// <summary>Rounds every master weight into the bf16 copy.</summary>
    public void CopyWeightsFromMaster()
    {
        using var noGrad = no_grad();
        foreach (var (_, master, working) in _pairs)
        {
            working.copy_(master);
        }
    }

    /// <summary>
    /// Adds the gradients of the bf16 copy to the master parameters' fp32 gradients (creating them when absent),
    /// then clears the copy's gradients. Parameters without a gradient in the copy are left unchanged.
    /// </summary>
    public void AddGradientsToMaster()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (_, master, working) in _pairs)
        {
            var gradient = working.grad;
            if (gradient is null)
            {
                continue;
            }

            var wide = gradient.to(float32);
            if (master.grad is Tensor existing)
            {
                existing.add_(wide);
            }
            else
            {
                // The parameter keeps its own reference to the gradient when the scope disposes this handle.
                master.grad = wide;
            }
        }

        Model.zero_grad();
    }

    /// <inheritdoc/>
    public void Dispose() => Model.Dispose();
}

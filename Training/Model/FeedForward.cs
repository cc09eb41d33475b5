// Dimension letters: B batch, T tokens, C hidden, I intermediate.
using SimpleTransformer.Inference.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SimpleTransformer.Training.Model;

/// <summary>The position-wise feed-forward network <c>dropout(fc_out(act(fc_in(x))))</c>.</summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc_in;
    private readonly Linear fc_out;
    private readonly Dropout dropout;
    private readonly Activation _activation;

    /// <summary>Creates the two projections C → I → C.</summary>
    public FeedForward(int hiddenSize, int intermediateSize, Activation activation, double dropoutProbability)
        : base(nameof(FeedForward))
    {
        _activation = activation;
        fc_in = nn.Linear(hiddenSize, intermediateSize);
        fc_out = nn.Linear(intermediateSize, hiddenSize);
        dropout = nn.Dropout(dropoutProbability);
        RegisterComponents();
    }

    /// <summary>Applies the network to x [B, T, C] and returns [B, T, C].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var hidden = fc_in.forward(x);                              // [B, T, I]
        hidden = _activation switch
        {
            Activation.Gelu => F.gelu(hidden),
            Activation.GeluTanh => F.gelu(hidden, GELU.Approximate.tanh),
            Activation.Relu => F.relu(hidden),
            _ => throw new ArgumentOutOfRangeException(nameof(_activation), _activation, "Unknown activation."),
        };
        return dropout.forward(fc_out.forward(hidden)).MoveToOuterDisposeScope(); // [B, T, C]
    }
}

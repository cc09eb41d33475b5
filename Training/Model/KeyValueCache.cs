// Dimension letters: B batch, H heads, S cached tokens, D head size.
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Model;

/// <summary>The keys and values one attention layer has seen so far, each [B, H, S, D].</summary>
/// <param name="Key">Cached keys, after the rotary rotation when the model uses it.</param>
/// <param name="Value">Cached values.</param>
public sealed record LayerCache(Tensor Key, Tensor Value) : IDisposable
{
    /// <summary>Number of cached tokens, S.</summary>
    public long Length => Key.shape[2];

    /// <inheritdoc/>
    public void Dispose()
    {
        Key.Dispose();
        Value.Dispose();
    }
}

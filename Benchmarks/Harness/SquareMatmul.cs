using System.Diagnostics;
using static TorchSharp.torch;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>A square fp32 matrix product through TorchSharp, the reference rate of the training utilisation.</summary>
public sealed class SquareMatmul(int size) : IDisposable
{
    private readonly Tensor _left = randn(size, size).DetachFromDisposeScope();
    private readonly Tensor _right = randn(size, size).DetachFromDisposeScope();

    /// <summary>Multiplies the matrices once and returns the rate in FLOP per second (2·n³ per product).</summary>
    public double Rate()
    {
        var stopwatch = Stopwatch.StartNew();
        using var product = _left.matmul(_right);
        return 2.0 * size * size * size / stopwatch.Elapsed.TotalSeconds;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _left.Dispose();
        _right.Dispose();
    }
}

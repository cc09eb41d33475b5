using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>
/// Read bandwidth of this machine, measured by summing a float array with SIMD on <c>threads</c> threads. An array far
/// larger than the caches gives the DRAM rate. An array of the model's weight size, read repeatedly, gives the rate a
/// decoding step gets when the weights stay in cache.
/// </summary>
public sealed class MemoryBandwidth(long bytes, int threads)
{
    private readonly float[] _data = CreateData(bytes);

    /// <summary>The array size in bytes.</summary>
    public long Bytes => (long)_data.Length * sizeof(float);

    /// <summary>Reads the whole array <paramref name="passes"/> times and returns the bytes read per second.</summary>
    public double ReadBytesPerSecond(int passes)
    {
        var stopwatch = Stopwatch.StartNew();
        float total = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            total += SumParallel();
        }

        double seconds = stopwatch.Elapsed.TotalSeconds;
        GC.KeepAlive(total);
        return Bytes * (double)passes / seconds;
    }

    private float SumParallel()
    {
        if (threads == 1)
        {
            return Sum(_data);
        }

        var partial = new float[threads];
        int chunk = (_data.Length + threads - 1) / threads;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int start = t * chunk;
            int length = Math.Min(chunk, _data.Length - start);
            partial[t] = length > 0 ? Sum(_data.AsSpan(start, length)) : 0;
        });
        return partial.Sum();
    }

    // Four independent accumulators keep several loads in flight, so the loop is limited by memory, not by add latency.
    private static float Sum(ReadOnlySpan<float> values)
    {
        var vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
        Vector<float> a = default, b = default, c = default, d = default;
        int i = 0;
        for (; i + 4 <= vectors.Length; i += 4)
        {
            a += vectors[i];
            b += vectors[i + 1];
            c += vectors[i + 2];
            d += vectors[i + 3];
        }

        for (; i < vectors.Length; i++)
        {
            a += vectors[i];
        }

        float sum = Vector.Sum(a + b + c + d);
        for (int j = vectors.Length * Vector<float>.Count; j < values.Length; j++)
        {
            sum += values[j];
        }

        return sum;
    }

    private static float[] CreateData(long bytes)
    {
        long count = bytes / sizeof(float);
        if (count < 1 || count > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"The bandwidth array must hold between 1 and {Array.MaxLength} floats.");
        }

        var data = GC.AllocateUninitializedArray<float>((int)count);
        data.AsSpan().Fill(1f);
        return data;
    }
}

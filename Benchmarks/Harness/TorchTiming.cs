using System.Diagnostics;
using static TorchSharp.torch;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>Times TorchSharp work on the CPU, where every operator returns when its result is computed.</summary>
public static class TorchTiming
{
    /// <summary>Runs <paramref name="work"/> once as a warm-up and <paramref name="repeats"/> more times, each in its own dispose scope, and returns the median seconds.</summary>
    public static double MedianSeconds(Action work, int repeats)
    {
        var samples = new List<double>();
        for (int i = 0; i <= repeats; i++)
        {
            using var scope = NewDisposeScope();
            var stopwatch = Stopwatch.StartNew();
            work();
            if (i > 0)
            {
                samples.Add(stopwatch.Elapsed.TotalSeconds);
            }
        }

        return Statistics.Median(samples);
    }
}

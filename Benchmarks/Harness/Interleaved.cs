namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>
/// Runs several named measurements in rounds, one sample of each per round, reversing the order every other round.
/// On a shared machine the load drifts during a run. Measuring the contenders side by side in every round and taking
/// the median of per-round ratios cancels most of that drift, which separate blocks of runs would not.
/// </summary>
public static class Interleaved
{
    /// <summary>
    /// Calls every measurement once as a warm-up, then <paramref name="rounds"/> times, and returns the samples of each,
    /// in round order, keyed by name.
    /// </summary>
    /// <param name="measurements">Each returns one sample (for example seconds, or a rate).</param>
    /// <param name="rounds">Rounds after the warm-up, at least 1.</param>
    /// <param name="progress">Receives one line per round, or null.</param>
    public static Dictionary<string, List<double>> Run(IReadOnlyList<(string Name, Func<double> Measure)> measurements, int rounds, Action<string>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        foreach (var (_, measure) in measurements)
        {
            measure();
        }

        var samples = measurements.ToDictionary(m => m.Name, _ => new List<double>(), StringComparer.Ordinal);
        for (int round = 0; round < rounds; round++)
        {
            var order = round % 2 == 0 ? measurements : measurements.Reverse().ToList();
            foreach (var (name, measure) in order)
            {
                samples[name].Add(measure());
            }

            progress?.Invoke($"  round {round + 1}/{rounds} done");
        }

        return samples;
    }

    /// <summary>Returns the median over rounds of <c>samples[numerator][r] / samples[denominator][r]</c>.</summary>
    public static double MedianRatio(IReadOnlyDictionary<string, List<double>> samples, string numerator, string denominator) =>
        Statistics.Median(samples[numerator].Zip(samples[denominator], (a, b) => a / b));
}

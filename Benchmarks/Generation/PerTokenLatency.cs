using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Models;

namespace SimpleTransformer.Benchmarks.Generation;

/// <summary>
/// Per-token decoding latency: <c>(t(n) - t(1)) / (n - 1)</c>, where t(k) is the time to generate k tokens after
/// the same prompt. The difference removes the prefill and per-call setup, so what remains is the mean time of one
/// decoding step over contexts from the prompt length to prompt + n - 1. Both runs happen in the same round.
/// </summary>
public static class PerTokenLatency
{
    /// <summary>Returns one interleaved measurement per generator, each yielding the per-token seconds of one round.</summary>
    public static List<(string Name, Func<double> Measure)> Measurements(IEnumerable<IGenerator> generators, PromptSet prompts, int newTokens) =>
        [.. generators.Select(g => (g.Name, (Func<double>)(() => Measure(g, prompts, newTokens))))];

    /// <summary>Measures the per-token seconds of <paramref name="generator"/> once.</summary>
    public static double Measure(IGenerator generator, PromptSet prompts, int newTokens)
    {
        double allTokens = generator.Generate(prompts, newTokens);
        double firstToken = generator.Generate(prompts, 1);
        return Math.Max(0, allTokens - firstToken) / (newTokens - 1);
    }

    /// <summary>Runs <see cref="Interleaved.Run"/> over <paramref name="generators"/>.</summary>
    public static Dictionary<string, List<double>> Compare(IEnumerable<IGenerator> generators, PromptSet prompts, int newTokens, int rounds, Action<string>? progress) =>
        Interleaved.Run(Measurements(generators, prompts, newTokens), rounds, progress);
}

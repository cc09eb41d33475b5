using System.Text;
using SimpleTransformer.Benchmarks.Generation;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Report;
using static TorchSharp.torch;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// Per-token latency at growing context lengths, with and without a cache, and the slope of a least-squares line
/// through the points. With a cache a decoding step reads the cached keys and values (and the standard graph copies
/// them into the present), so it grows slowly. Without a cache it recomputes every position, so it grows fast.
/// </summary>
public static class ContextSection
{
    /// <summary>Measures and appends the section and the chart series to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        var model = run.Model;
        run.Log("context: per-token latency against context length, batch 1");
        set_num_threads(settings.Threads);

        using var library = new OrtCachedGenerator("SimpleTransformer.Inference (cache)", model.StandardDirectory, settings.Threads);
        using var ortUncached = new OrtUncachedGenerator(model.StandardDirectory, model.Config, settings.Threads);
        using var torchCached = new TorchCachedGenerator(model.Torch);
        using var torchUncached = new TorchUncachedGenerator(model.Torch);
        var generators = new (IGenerator Generator, int Tokens, string Key)[]
        {
            (library, settings.ContextCachedTokens, "library"),
            (torchCached, settings.ContextCachedTokens, "torch"),
            (ortUncached, settings.ContextUncachedTokens, "ortUncached"),
            (torchUncached, settings.ContextUncachedTokens, "torchUncached"),
        };

        var medians = generators.ToDictionary(g => g.Generator.Name, _ => new List<double>(), StringComparer.Ordinal);
        foreach (int context in settings.Contexts)
        {
            run.Log($"  context {context}");

            // Each runtime generates n tokens after a prompt of c - n tokens, so its timed steps end at context c.
            var measurements = generators.Select(g =>
            {
                int tokens = Math.Min(g.Tokens, context / 2);
                var prompts = model.Prompts(1, context - tokens, seed: 17);
                return (g.Generator.Name, (Func<double>)(() => PerTokenLatency.Measure(g.Generator, prompts, tokens)));
            }).ToList();
            var samples = Interleaved.Run(measurements, settings.Rounds, run.Log);
            foreach (var (generator, _, _) in generators)
            {
                double median = Statistics.Median(samples[generator.Name]);
                medians[generator.Name].Add(median);
                if (!run.ContextSeries.TryGetValue(generator.Name, out var series))
                {
                    run.ContextSeries[generator.Name] = series = [];
                }

                series.Add((context, median));
            }
        }

        var body = new StringBuilder();
        body.AppendLine($"Batch 1. At context c a runtime generates n tokens after a prompt of c - n tokens, so its timed steps end at context c; " +
            $"n = min({settings.ContextCachedTokens}, c/2) with a cache and min({settings.ContextUncachedTokens}, c/2) without one. " +
            $"Per-token latency in ms, median of {settings.Rounds} interleaved rounds. The slope is the least-squares line through all context lengths.");
        body.AppendLine();
        var headers = new List<string> { "runtime" };
        headers.AddRange(settings.Contexts.Select(c => $"c = {c}"));
        headers.Add("slope, µs per context token");
        headers.Add($"c = {settings.Contexts[^1]} / c = {settings.Contexts[0]}");
        var table = new MarkdownTable([.. headers]);
        double[] contexts = [.. settings.Contexts.Select(c => (double)c)];
        foreach (var (generator, _, key) in generators)
        {
            var values = medians[generator.Name];
            var (_, slope) = Statistics.LinearFit(contexts, values);
            run.Metrics[$"context.slope.{key}"] = slope;
            var row = new List<string> { generator.Name };
            row.AddRange(values.Select(v => Format.Significant(v * 1e3)));
            row.Add(Format.Significant(slope * 1e6));
            row.Add(Format.Ratio(values[^1] / values[0]));
            table.Add([.. row]);
        }

        body.Append(table);
        body.AppendLine();
        body.AppendLine($"![Per-token latency against context length]({ContextChart.FileName})");
        run.Sections.Add(new ReportSection("Growth with context", body.ToString()));
    }
}

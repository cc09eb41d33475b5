using System.Text;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using SimpleTransformer.Benchmarks.Micro;
using SimpleTransformer.Benchmarks.Report;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// BenchmarkDotNet measurements of single library calls, run in this process (no separate build), and the per-step
/// and per-token sampling costs derived from them.
/// </summary>
public static class MicroSection
{
    /// <summary>Measures and appends the section to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        run.Log("micro: BenchmarkDotNet on single library calls");
        DecodingBenchmarks.ModelDirectory = run.Model.StandardDirectory;
        DecodingBenchmarks.Threads = settings.Threads;
        DecodingBenchmarks.Prompt = run.Model.Prompts(1, settings.PromptTokens, seed: 11).Texts[0];

        // The tiny setting only checks that the cases run: one invocation per iteration, no pilot or overhead stage.
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(settings.Name == "tiny" ? 1 : 3)
            .WithIterationCount(settings.MicroIterations);
        job = settings.Name == "tiny"
            ? job.WithStrategy(RunStrategy.Monitoring)
            : job.WithIterationTime(TimeInterval.FromMilliseconds(settings.Name == "full" ? 250 : 100));

        string logPath = Path.Combine(run.WorkDirectory, "benchmarkdotnet.log");
        using var logger = new StreamLogger(logPath);
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddLogger(logger)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .WithArtifactsPath(Path.Combine(run.WorkDirectory, "BenchmarkDotNet.Artifacts"))
            // The referenced projects may be Debug builds when the smoke test runs this program, and the measured code is
            // ONNX Runtime's native library either way.
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        var summary = BenchmarkRunner.Run<DecodingBenchmarks>(config);

        var medians = new Dictionary<string, double>(StringComparer.Ordinal);
        var table = new MarkdownTable("case", "median", "standard error", "iterations");
        foreach (var report in summary.Reports)
        {
            string name = report.BenchmarkCase.Descriptor.WorkloadMethod.Name;
            var statistics = report.ResultStatistics ?? throw new InvalidOperationException(
                $"BenchmarkDotNet returned no result for {name}; its log is '{logPath}'.");
            medians[name] = statistics.Median * 1e-9;
            table.Add(name, Format.Milliseconds(statistics.Median * 1e-9), Format.Milliseconds(statistics.StandardError * 1e-9), statistics.N.ToString());
        }

        int steps = DecodingBenchmarks.LongTokens - 1;
        double step = (medians[nameof(DecodingBenchmarks.GreedyTokens)] - medians[nameof(DecodingBenchmarks.OneToken)]) / steps;
        double sampling = (medians[nameof(DecodingBenchmarks.SampledTokens)] - medians[nameof(DecodingBenchmarks.GreedyTokens)]) / DecodingBenchmarks.LongTokens;

        var body = new StringBuilder();
        body.AppendLine($"BenchmarkDotNet {typeof(BenchmarkRunner).Assembly.GetName().Version?.ToString(3)}, in-process toolchain, {settings.MicroIterations} iterations after warm-up, " +
            $"{settings.PromptTokens}-token prompt, batch 1, standard graph.");
        body.AppendLine();
        body.Append(table);
        body.AppendLine();
        body.AppendLine($"- one decoding step: ({nameof(DecodingBenchmarks.GreedyTokens)} - {nameof(DecodingBenchmarks.OneToken)}) / {steps} = **{Format.Milliseconds(step)}**");
        body.AppendLine($"- sampling (temperature, top-k 40, top-p 0.9, repetition penalty) over greedy, per token: " +
            $"({nameof(DecodingBenchmarks.SampledTokens)} - {nameof(DecodingBenchmarks.GreedyTokens)}) / {DecodingBenchmarks.LongTokens} = **{Format.Milliseconds(sampling)}**");
        run.Sections.Add(new ReportSection("Micro-benchmarks (BenchmarkDotNet)", body.ToString()));
    }
}

using System.Text;
using Microsoft.ML.OnnxRuntime;
using SimpleTransformer.Benchmarks.Generation;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Report;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// The exporter's standard graph against its optimized graph of ONNX Runtime's fused operators, on the same weights,
/// and fp32 against fp16 where a GPU is present.
/// </summary>
public static class GraphSection
{
    /// <summary>Measures and appends the section to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        var model = run.Model;
        run.Log("graphs: standard against optimized export");
        using var standard = new OrtCachedGenerator("standard graph", model.StandardDirectory, settings.Threads);
        using var optimized = new OrtCachedGenerator("optimized graph", model.OptimizedDirectory, settings.Threads);
        int standardNodes = OptimizedGraph.OperatorCounts(Path.Combine(model.StandardDirectory, "model.onnx"), run.WorkDirectory).Values.Sum();
        int optimizedNodes = OptimizedGraph.OperatorCounts(Path.Combine(model.OptimizedDirectory, "model.onnx"), run.WorkDirectory).Values.Sum();

        var body = new StringBuilder();
        body.AppendLine($"The inference library on both exports (`ExportOptions.Graph`), fp32, {settings.PromptTokens}-token prompt, {settings.NewTokens} new tokens, " +
            $"median of {settings.Rounds} interleaved rounds. After ONNX Runtime's own optimizations the standard graph has {standardNodes} nodes and the optimized one {optimizedNodes}.");
        body.AppendLine();
        var table = new MarkdownTable("batch", "standard, ms per token", "optimized, ms per token", "optimized speed-up");
        foreach (int batch in settings.Batches)
        {
            var prompts = model.Prompts(batch, settings.PromptTokens, seed: 11);
            var samples = PerTokenLatency.Compare([standard, optimized], prompts, settings.NewTokens, settings.Rounds, run.Log);
            table.Add(batch.ToString(), Format.Significant(Statistics.Median(samples[standard.Name]) * 1e3),
                Format.Significant(Statistics.Median(samples[optimized.Name]) * 1e3), Format.Ratio(Interleaved.MedianRatio(samples, standard.Name, optimized.Name)));
        }

        body.Append(table);
        body.AppendLine();
        string[] providers = OrtEnv.Instance().GetAvailableProviders();
        body.AppendLine(providers.Contains("CUDAExecutionProvider", StringComparer.Ordinal)
            ? "fp32 against fp16: a CUDA provider is available, but this program references the CPU build of ONNX Runtime and does not measure it."
            : $"fp32 against fp16: not measured, no GPU (ONNX Runtime offers {string.Join(", ", providers)}). fp16 weights and cache are meant for the CUDA provider.");
        run.Sections.Add(new ReportSection("Standard and optimized graphs", body.ToString()));
    }
}

using System.Diagnostics;
using System.Text;
using SimpleTransformer.Benchmarks.Generation;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Report;
using static TorchSharp.torch;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// Prompt processing speed: tokens per second of the prefill run alone, the library (a one-token generation, whose
/// cost is the prefill plus one greedy choice) against one TorchSharp forward pass over the same prompt.
/// </summary>
public static class PrefillSection
{
    /// <summary>Measures and appends the section to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        var model = run.Model;
        run.Log("prefill: prompt tokens per second");
        set_num_threads(settings.Threads);
        using var library = new OrtCachedGenerator("library", model.StandardDirectory, settings.Threads);
        using var optimized = new OrtCachedGenerator("optimized", model.OptimizedDirectory, settings.Threads);

        var table = new MarkdownTable("prompt tokens", "library, standard graph, tokens/s", "library, optimized graph, tokens/s", "TorchSharp forward, tokens/s",
            "standard / TorchSharp speed", "optimized / TorchSharp speed");
        foreach (int length in settings.PrefillLengths)
        {
            var prompts = model.Prompts(1, length, seed: 23);
            var ids = tensor(prompts.Ids[0].Select(id => (long)id).ToArray(), [1, length]);
            var samples = Interleaved.Run(
            [
                ("library", () => library.Generate(prompts, 1)),
                ("optimized", () => optimized.Generate(prompts, 1)),
                ("torch", () => TorchForward(model.Torch, ids)),
            ], settings.Rounds, run.Log);
            ids.Dispose();
            run.Metrics[$"prefill.{length}.speed"] = Interleaved.MedianRatio(samples, "torch", "library");
            table.Add(length.ToString(), Format.Whole(length / Statistics.Median(samples["library"])), Format.Whole(length / Statistics.Median(samples["optimized"])),
                Format.Whole(length / Statistics.Median(samples["torch"])), Format.Ratio(Interleaved.MedianRatio(samples, "torch", "library")),
                Format.Ratio(Interleaved.MedianRatio(samples, "torch", "optimized")));
        }

        var body = new StringBuilder();
        body.AppendLine($"Batch 1, {settings.Threads} thread(s), median of {settings.Rounds} interleaved rounds. The library's time is a one-token generation: " +
            "the prefill run and one greedy choice. A speed above 1x means the library processes the prompt faster than TorchSharp.");
        body.AppendLine();
        body.Append(table);
        int longest = settings.PrefillLengths.Max();
        var profile = OrtProfile.OperatorShares(Path.Combine(model.StandardDirectory, "model.onnx"), model.Config, 0, longest, runs: 3, settings.Threads, run.WorkDirectory);
        run.Metrics["prefill.softmaxShare"] = profile.Where(p => p.Operator == "Softmax").Sum(p => p.Share);
        body.AppendLine();
        body.AppendLine($"Share of kernel time by operator in a {longest}-token prefill of the standard graph (ONNX Runtime's profiler, 3 runs): " +
            string.Join(", ", profile.Take(6).Select(p => $"{p.Operator} {Format.Percent(p.Share)}")) + ".");
        run.Sections.Add(new ReportSection("Prompt processing (prefill)", body.ToString()));
    }

    private static double TorchForward(Training.Model.SimpleTransformer model, Tensor ids)
    {
        var stopwatch = Stopwatch.StartNew();
        using var noGrad = no_grad();
        using var logits = model.forward(ids);
        return stopwatch.Elapsed.TotalSeconds;
    }
}

using System.Text;
using SimpleTransformer.Benchmarks.Generation;
using SimpleTransformer.Benchmarks.Models;
using SimpleTransformer.Benchmarks.Report;
using SimpleTransformer.Training.Memory;
using static TorchSharp.torch;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// Managed bytes allocated per generated token (<see cref="GC.GetAllocatedBytesForCurrentThread"/>, the difference
/// between a long and a short generation, so per-call setup cancels) and the resident memory of the process.
/// </summary>
public static class MemorySection
{
    /// <summary>Measures and appends the section to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        var model = run.Model;
        run.Log("memory: managed allocation per token and resident memory");
        set_num_threads(settings.Threads);
        var (_, peakBefore) = ProcessMemory.Read();

        using var library = new OrtCachedGenerator("SimpleTransformer.Inference (ONNX Runtime, cache)", model.StandardDirectory, settings.Threads);
        using var torchCached = new TorchCachedGenerator(model.Torch);
        const int shortRun = 2;
        int longRun = settings.NewTokens;

        var table = new MarkdownTable("runtime", "batch", "managed bytes per token (all sequences)");
        foreach (IGenerator generator in new IGenerator[] { library, torchCached })
        {
            foreach (int batch in settings.Batches)
            {
                var prompts = model.Prompts(batch, settings.PromptTokens, seed: 11);
                generator.Generate(prompts, longRun);
                long few = AllocatedBy(() => generator.Generate(prompts, shortRun));
                long many = AllocatedBy(() => generator.Generate(prompts, longRun));
                table.Add(generator.Name, batch.ToString(), Format.Whole((many - few) / (double)(longRun - shortRun)));
            }
        }

        var (residentBefore, _) = ProcessMemory.Read();
        ProcessMemory.ResetPeak();
        int largestBatch = settings.Batches.Max();
        library.Generate(model.Prompts(largestBatch, settings.PromptTokens, seed: 11), longRun);
        var (_, peakDuring) = ProcessMemory.Read();

        var body = new StringBuilder();
        body.AppendLine($"Managed allocation per token: `(A({longRun}) - A({shortRun})) / {longRun - shortRun}` for greedy generations after a {settings.PromptTokens}-token prompt, " +
            "on the generating thread. Native memory of ONNX Runtime and LibTorch is not managed and not counted here.");
        body.AppendLine();
        body.Append(table);
        body.AppendLine();
        var resident = new MarkdownTable("resident memory (VmRSS / VmHWM from /proc/self/status)", "MiB");
        resident.Add("peak of this process before this part (TorchSharp, ONNX Runtime and every earlier part loaded)", Format.Whole(peakBefore / 1048576.0));
        resident.Add("resident before the library's generation", Format.Whole(residentBefore / 1048576.0));
        resident.Add($"peak during one library generation at batch {largestBatch}", Format.Whole(peakDuring / 1048576.0));
        body.Append(resident);
        run.Sections.Add(new ReportSection("Memory", body.ToString()));
    }

    private static long AllocatedBy(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}

using System.Text;
using SimpleTransformer.Benchmarks.Generation;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Report;
using static TorchSharp.torch;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// Per-token latency of the inference library against TorchSharp and ONNX Runtime with and without a cache, and
/// eager PyTorch with a cache, at each batch size, all on the same weights.
/// </summary>
public static class GenerationSection
{
    /// <summary>The speed-up over TorchSharp and PyTorch (both cached) that the library should reach at batch 1.</summary>
    public const double TargetSpeedup = 3.0;

    /// <summary>Measures and appends the section and its targets to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        var model = run.Model;
        run.Log("generation: per-token latency of every runtime, interleaved");

        using var library = new OrtCachedGenerator("SimpleTransformer.Inference (ONNX Runtime, cache)", model.StandardDirectory, settings.Threads);
        using var optimized = new OrtCachedGenerator("SimpleTransformer.Inference, optimized graph", model.OptimizedDirectory, settings.Threads);
        using var ortUncached = new OrtUncachedGenerator(model.StandardDirectory, model.Config, settings.Threads);
        using var torchCached = new TorchCachedGenerator(model.Torch);
        using var torchUncached = new TorchUncachedGenerator(model.Torch);
        var body = new StringBuilder();
        var (python, pythonNote) = PyTorchGenerator.TryStart(run.Python, model.CheckpointDirectory, settings.Threads);
        try
        {
            set_num_threads(settings.Threads);
            body.AppendLine($"Greedy decoding of {settings.NewTokens} tokens after a {settings.PromptTokens}-token prompt, per sequence. " +
                $"Per-token latency is `(t({settings.NewTokens}) - t(1)) / {settings.NewTokens - 1}`, so the prompt run is excluded. " +
                $"Median of {settings.Rounds} interleaved rounds, with the range across rounds in brackets. The speed-up is the median of per-round ratios.");
            body.AppendLine();
            if (python is null)
            {
                body.AppendLine($"PyTorch was skipped: {pythonNote}");
                body.AppendLine();
            }
            else
            {
                body.AppendLine($"PyTorch {python.TorchVersion} runs `Benchmarks/python/torch_generate.py` under `{run.Python}`. {CheckSameModel(python, run)}");
                body.AppendLine();
            }

            foreach (int batch in settings.Batches)
            {
                var prompts = model.Prompts(batch, settings.PromptTokens, seed: 11);
                var generators = new List<IGenerator> { library, optimized, torchCached, torchUncached, ortUncached };
                if (python is not null)
                {
                    generators.Add(python);
                }

                run.Log($"  batch {batch}");
                var samples = PerTokenLatency.Compare(generators, prompts, settings.NewTokens, settings.Rounds, run.Log);
                var table = new MarkdownTable("batch", "runtime", "per-token latency, ms", "tokens/s (all sequences)", "speed-up of the library (standard graph)");
                foreach (var generator in generators)
                {
                    var values = samples[generator.Name];
                    double median = Statistics.Median(values);
                    var (min, max) = Statistics.Range(values);
                    double speedup = Interleaved.MedianRatio(samples, generator.Name, library.Name);
                    table.Add(batch.ToString(), generator.Name, Format.MillisecondsRange(median, min, max), Format.Whole(batch / median),
                        generator == library ? "1x" : Format.Ratio(speedup));
                }

                body.Append(table);
                body.AppendLine();
                if (batch == 1)
                {
                    run.Metrics["latency.library"] = Statistics.Median(samples[library.Name]);
                    run.Metrics["latency.optimized"] = Statistics.Median(samples[optimized.Name]);
                    run.Metrics["latency.torch"] = Statistics.Median(samples[torchCached.Name]);
                    run.Metrics["speedup.torch"] = Interleaved.MedianRatio(samples, torchCached.Name, library.Name);
                    run.Metrics["speedup.optimized.torch"] = Interleaved.MedianRatio(samples, torchCached.Name, optimized.Name);
                    if (python is not null)
                    {
                        run.Metrics["latency.python"] = Statistics.Median(samples[python.Name]);
                        run.Metrics["speedup.python"] = Interleaved.MedianRatio(samples, python.Name, library.Name);
                        run.Metrics["speedup.optimized.python"] = Interleaved.MedianRatio(samples, python.Name, optimized.Name);
                    }
                }

                if (batch == 1 && settings.PresetShapes)
                {
                    foreach (var (graph, generator) in new[] { ("standard graph", library), ("optimized graph", optimized) })
                    {
                        AddTarget(run, samples, torchCached.Name, generator.Name, graph);
                        if (python is not null)
                        {
                            AddTarget(run, samples, python.Name, generator.Name, graph);
                        }
                        else
                        {
                            run.Targets.Add(new TargetResult($"library ({graph}) vs {PythonName}, per-token latency at batch 1", $"≥ {TargetSpeedup}x", "not measured: PyTorch missing", false));
                        }
                    }
                }
            }
        }
        finally
        {
            python?.Dispose();
        }

        run.Sections.Add(new ReportSection("Generation: per-token latency", body.ToString()));
    }

    private const string PythonName = "PyTorch eager, cache";

    private static void AddTarget(BenchmarkRun run, Dictionary<string, List<double>> samples, string other, string library, string graph)
    {
        double speedup = Interleaved.MedianRatio(samples, other, library);
        run.Targets.Add(new TargetResult($"library ({graph}) vs {other}, per-token latency at batch 1", $"≥ {TargetSpeedup}x", Format.Ratio(speedup), speedup >= TargetSpeedup));
    }

    // Compares the script's prompt logits with the TorchSharp model's, so a fast but wrong reimplementation cannot pass unnoticed.
    private static string CheckSameModel(PyTorchGenerator python, BenchmarkRun run)
    {
        var prompts = run.Model.Prompts(2, run.Settings.PromptTokens, seed: 5);
        float[][] fromPython = python.PromptLogits(prompts);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = tensor(prompts.Ids.SelectMany(p => p.Select(id => (long)id)).ToArray(), [prompts.Batch, prompts.Ids[0].Length]);
        var logits = run.Model.Torch.forward(ids)[.., -1].contiguous().data<float>().ToArray();
        int vocabulary = run.Model.Config.VocabSize;
        double worst = 0;
        for (int row = 0; row < prompts.Batch; row++)
        {
            for (int v = 0; v < vocabulary; v++)
            {
                worst = Math.Max(worst, Math.Abs(fromPython[row][v] - logits[row * vocabulary + v]));
            }
        }

        if (worst > 1e-3)
        {
            throw new InvalidOperationException($"torch_generate.py computes different logits from the TorchSharp model (max difference {worst:G3}), so its timings would not compare the same model. Fix the script.");
        }

        return $"Its prompt logits match TorchSharp's within {worst:G2}.";
    }
}

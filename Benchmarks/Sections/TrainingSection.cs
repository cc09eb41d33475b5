using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Models;
using SimpleTransformer.Benchmarks.Report;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Trainer;
using static TorchSharp.torch;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// Training throughput of the real trainer (<see cref="Trainer.Run"/>) on the bundled corpus for each preset, and the
/// model FLOP utilisation: model training FLOP per second divided by the rate of a large fp32 matrix product measured
/// between the same training steps. A per-operator breakdown explains where the rest of the step goes.
/// </summary>
public static class TrainingSection
{
    /// <summary>The utilisation the largest preset should reach.</summary>
    public const double TargetUtilisation = 0.5;

    /// <summary>Measures every preset and appends the section and the target to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        set_num_threads(settings.Threads);
        var presets = settings.TrainPresets
            ? new[] { "quick", "base" }.Select(name => (name, Preset.Load(Path.Combine(run.RepositoryRoot, "models", name + ".json")))).ToList()
            : [("tiny", TinyPreset())];
        // The denominator is the faster of the square products, so the utilisation is not flattered by a slow size.
        var products = settings.GemmSizes.Select(size => new SquareMatmul(size)).ToList();
        double Gemm() => products.Max(product => product.Rate());
        Gemm();
        string sizes = string.Join(" and ", settings.GemmSizes.Select(n => $"{n} × {n}"));

        var body = new StringBuilder();
        body.AppendLine($"The trainer (`Trainer.Run`, fp32, {settings.Threads} thread(s)) on `data/brown-sample.txt`: one warm-up step, then {settings.TrainingSteps} timed step(s). " +
            $"Between steps the same thread runs {sizes} fp32 matrix products through TorchSharp, " +
            "and each step's utilisation is its model FLOP rate over the faster product's rate measured just before the step.");
        body.AppendLine();
        body.AppendLine("Model FLOP per token = 6·N + 12·L·T·C (the estimate of Kaplan et al. 2020 and the PaLM paper, appendix B, as in nanoGPT): " +
            "N counts the parameters used in matrix products (every weight except the position table, with the tied token embedding counted once, as the output projection), " +
            "L layers, T the training sequence length, C the hidden size. The second term is the attention score and value products, forward and backward, for a full T × T score matrix.");
        body.AppendLine();
        var table = new MarkdownTable("preset", "N", "batch × sequence", "model GFLOP per step", "step time, s", "tokens/s", "model GFLOP/s", "square GEMM GFLOP/s", "utilisation (MFU)");
        var breakdowns = new StringBuilder();
        double lastUtilisation = 0;
        string lastPreset = "";
        foreach (var (name, preset) in presets)
        {
            run.Log($"training: preset {name}");
            var measured = MeasureTrainer(run, name, preset, Gemm);
            var options = preset.Training;
            long tokensPerStep = (long)options.BatchSize * options.SequenceLength * options.GradientAccumulationSteps;
            double flopsPerStep = FlopsPerToken(measured.Config, options.SequenceLength) * tokensPerStep;
            var utilisation = measured.StepSeconds.Zip(measured.GemmRates, (seconds, rate) => flopsPerStep / seconds / rate).ToList();
            double step = Statistics.Median(measured.StepSeconds);
            double gemmRate = Statistics.Median(measured.GemmRates);
            lastUtilisation = Statistics.Median(utilisation);
            lastPreset = name;
            table.Add(name, $"{BenchmarkModel.MatmulParameters(measured.Config) / 1e6:F2} M", $"{options.BatchSize} × {options.SequenceLength}",
                Format.Significant(flopsPerStep / 1e9), Format.Significant(step), Format.Whole(tokensPerStep / step),
                Format.Significant(flopsPerStep / step / 1e9), Format.Significant(gemmRate / 1e9), Format.Percent(lastUtilisation));

            run.Log($"training: breakdown of preset {name}");
            breakdowns.Append(TrainingBreakdown.Measure(measured.Config, options, settings, step, Gemm, run.Metrics, run.Log));
        }

        body.Append(table);
        body.AppendLine();
        body.Append(breakdowns);
        run.Metrics["training.utilisation"] = lastUtilisation;
        if (settings.TrainPresets)
        {
            run.Targets.Add(new TargetResult($"training utilisation (MFU), preset {lastPreset}", $"≥ {TargetUtilisation * 100:F0} %", Format.Percent(lastUtilisation), lastUtilisation >= TargetUtilisation));
        }

        run.Sections.Add(new ReportSection("Training throughput and utilisation", body.ToString()));
        foreach (var product in products)
        {
            product.Dispose();
        }
    }

    /// <summary>Returns 6·N + 12·L·T·C, the model training FLOP per token at sequence length <paramref name="sequenceLength"/>.</summary>
    public static double FlopsPerToken(ModelConfig config, int sequenceLength) =>
        6.0 * BenchmarkModel.MatmulParameters(config) + 12.0 * config.NumLayers * sequenceLength * config.HiddenSize;

    private sealed record TrainerMeasurement(ModelConfig Config, List<double> StepSeconds, List<double> GemmRates);

    private static TrainerMeasurement MeasureTrainer(BenchmarkRun run, string name, Preset preset, Func<double> gemm)
    {
        int steps = run.Settings.TrainingSteps;

        // Only the last step validates and saves a checkpoint, and it is not timed.
        var training = preset.Training with
        {
            MaxSteps = Math.Max(preset.Training.MaxSteps, steps + 2),
            EvalBatches = 1,
            EvalInterval = int.MaxValue,
            LogInterval = int.MaxValue,
            CheckpointInterval = int.MaxValue,
            KeepLast = 1,
        };
        var request = new TrainRequest
        {
            RunDirectory = Path.Combine(run.WorkDirectory, "training", name),
            CorpusPath = Path.Combine(run.RepositoryRoot, "data", "brown-sample.txt"),
            Preset = preset with { Training = training },
            StopAfterStep = steps + 2,
            Threads = run.Settings.Threads,
        };

        var stepSeconds = new List<double>();
        var gemmRates = new List<double>();
        var clock = Stopwatch.StartNew();
        double lastEnd = 0;
        var result = Trainer.Run(request, _ => { }, stepCompleted: (completed, _) =>
        {
            double now = clock.Elapsed.TotalSeconds;
            if (completed > steps + 1)
            {
                return;
            }

            if (completed >= 2)
            {
                stepSeconds.Add(now - lastEnd);
            }

            // The products run after step k are paired with step k + 1, the next timed step.
            double rate = gemm();
            if (completed >= 1 && completed <= steps)
            {
                gemmRates.Add(rate);
            }

            lastEnd = clock.Elapsed.TotalSeconds;
        });

        var config = ModelConfig.Load(result.LastCheckpoint);
        return new TrainerMeasurement(config, stepSeconds, gemmRates);
    }

    private static Preset TinyPreset() => new(
        new JsonObject
        {
            ["hidden_size"] = 32,
            ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4,
            ["intermediate_size"] = 64,
            ["max_position_embeddings"] = 64,
            ["tie_word_embeddings"] = true,
        },
        new TrainingOptions { BatchSize = 2, SequenceLength = 32, WarmupSteps = 1 });
}

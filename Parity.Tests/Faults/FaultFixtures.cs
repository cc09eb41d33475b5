using System.Text.Json;
using System.Text.Json.Nodes;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Parity.Tests.Model;
using SimpleTransformer.Parity.Tests.TrainingTests;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Checkpoints;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>Tiny presets, corpora and checkpoint directories for fault-injection tests.</summary>
internal static class FaultFixtures
{
    /// <summary>A 2-layer model section: C = 32, H = 2, I = 64, context 32, learned positions, no dropout.</summary>
    public static JsonObject TinyModel() => TrainingFixtures.TinyModel();

    /// <summary>A training section of 4 × 32 tokens per step that logs every step and checkpoints every step.</summary>
    public static JsonObject TinyTraining(int maxSteps) => new()
    {
        ["batch_size"] = 4,
        ["sequence_length"] = 32,
        ["max_steps"] = maxSteps,
        ["learning_rate"] = 3e-3,
        ["min_learning_rate"] = 3e-4,
        ["warmup_steps"] = 3,
        ["log_interval"] = 1,
        ["eval_interval"] = 4,
        ["eval_batches"] = 2,
        ["checkpoint_interval"] = 1,
        ["keep_last"] = 2,
        ["seed"] = 1337,
    };

    /// <summary>Writes a preset file and returns its path.</summary>
    public static string WritePreset(string directory, JsonObject model, JsonObject training, string name = "preset.json")
    {
        var root = new JsonObject { ["model"] = model.DeepClone(), ["training"] = training.DeepClone() };
        string path = Path.Combine(directory, name);
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>Writes the first 20 documents of the bundled Brown sample, each cut to 1,500 characters.</summary>
    public static string WriteCorpus(string directory, string name = "corpus.txt") =>
        TrainingFixtures.WriteCorpus(directory, name, maxDocumentCharacters: 1500);

    /// <summary>The training options stored in <see cref="WriteTrainingCheckpoint"/>'s trainer state.</summary>
    public static TrainingOptions CheckpointOptions { get; } = new()
    {
        BatchSize = 2,
        SequenceLength = 16,
        MaxSteps = 10,
        WarmupSteps = 2,
        CheckpointInterval = 1,
    };

    /// <summary>
    /// Writes a complete, valid checkpoint of <see cref="ExportFixtures.Small"/> (V = 11) without TorchSharp:
    /// seeded weights, zero optimizer moments, the 11-token character tokenizer and a trainer state at
    /// <paramref name="step"/> that trains on <paramref name="corpus"/>.
    /// </summary>
    public static string WriteTrainingCheckpoint(string directory, long step, string corpus, int seed = 1)
    {
        var config = ExportFixtures.Small;
        ExportFixtures.WriteCheckpoint(directory, config, seed);
        var moments = TensorLayout.Expected(config).SelectMany(t => new[]
        {
            new NamedTensor($"exp_avg.{t.Name}", t.Shape, new float[t.Shape.Aggregate(1L, (a, b) => a * b)]),
            new NamedTensor($"exp_avg_sq.{t.Name}", t.Shape, new float[t.Shape.Aggregate(1L, (a, b) => a * b)]),
        });
        Safetensors.Save(Path.Combine(directory, CheckpointStore.OptimizerFile), moments);
        var state = new TrainerState { Step = step, TokensSeen = step * 32, TrainLoss = 2.5, Corpus = corpus, Training = CheckpointOptions };
        AtomicFile.WriteAllText(Path.Combine(directory, TrainerState.FileName), state.ToJson());
        return directory;
    }

    /// <summary>Writes a corpus whose characters all belong to <see cref="ExportFixtures.TokenizerText"/>, with 20 documents.</summary>
    public static string WriteSmallAlphabetCorpus(string directory)
    {
        var random = new Random(5);
        var documents = Enumerable.Range(0, 20).Select(_ =>
            new string([.. Enumerable.Range(0, 200).Select(_ => ExportFixtures.TokenizerText[random.Next(ExportFixtures.TokenizerText.Length)])]));
        string path = Path.Combine(directory, "alphabet-corpus.txt");
        File.WriteAllText(path, string.Join("\n\n", documents));
        return path;
    }

    /// <summary>Returns the metrics of <c>metrics.jsonl</c>, one entry per line, without the timing fields.</summary>
    public static List<MetricsLine> ReadMetrics(string runDirectory)
    {
        string path = Path.Combine(runDirectory, "metrics.jsonl");
        var lines = new List<MetricsLine>();
        foreach (string line in File.ReadAllLines(path).Where(l => l.Length > 0))
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            var validation = root.GetProperty("validation_loss");
            lines.Add(new MetricsLine(
                root.GetProperty("step").GetInt64(),
                root.GetProperty("train_loss").GetDouble(),
                validation.ValueKind == JsonValueKind.Null ? null : validation.GetDouble(),
                root.GetProperty("learning_rate").GetDouble(),
                root.GetProperty("grad_norm").GetDouble()));
        }

        return lines;
    }

    /// <summary>
    /// Asserts that every directory named like a checkpoint, and <c>best/</c> when present, loads completely,
    /// and returns the step of the newest.
    /// </summary>
    public static long? AssertCheckpointsWhole(string runDirectory, string when)
    {
        var store = new CheckpointStore(runDirectory);
        foreach (string directory in store.List())
        {
            var checkpoint = LoadOrFail(directory, when);
            Assert.AreEqual(CheckpointStore.StepOf(directory), checkpoint.State.Step, $"{when}: step of '{directory}'");
        }

        string best = Path.Combine(runDirectory, CheckpointStore.BestDirectory);
        if (Directory.Exists(best))
        {
            LoadOrFail(best, when);
        }

        return store.Latest is string latest ? CheckpointStore.StepOf(latest) : null;
    }

    private static TrainingCheckpoint LoadOrFail(string directory, string when)
    {
        try
        {
            return TrainingCheckpoint.Load(directory);
        }
        catch (Exception e)
        {
            Assert.Fail($"{when}: '{directory}' is named as a complete checkpoint but does not load: {e.GetType().Name}: {e.Message}");
            throw;
        }
    }
}

/// <summary>The deterministic values of one <c>metrics.jsonl</c> line.</summary>
internal sealed record MetricsLine(long Step, double TrainLoss, double? ValidationLoss, double LearningRate, double GradNorm);

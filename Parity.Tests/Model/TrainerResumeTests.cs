using System.Text.Json.Nodes;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Parity.Tests.TrainingTests;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Parity.Tests.Model;

/// <remarks>Not parallel: the trainer seeds LibTorch's process-wide generator, which tests running beside it would draw from.</remarks>
[TestClass]
[DoNotParallelize]
public sealed class TrainerResumeTests
{
    /// <summary>A 2-layer model with dropout, so resuming must also restore the random state of every step.</summary>
    private static Preset TinyPreset(int maxSteps) => new(
        new JsonObject
        {
            ["hidden_size"] = 32,
            ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 2,
            ["intermediate_size"] = 64,
            ["max_position_embeddings"] = 32,
            ["hidden_dropout"] = 0.1,
            ["attention_dropout"] = 0.1,
        },
        new TrainingOptions
        {
            BatchSize = 4,
            SequenceLength = 32,
            MaxSteps = maxSteps,
            WarmupSteps = 3,
            LogInterval = 2,
            EvalInterval = 4,
            EvalBatches = 2,
            CheckpointInterval = 4,
            KeepLast = 2,
        });

    [TestMethod]
    public void InterruptedAndResumedRun_RepeatsLossesOfUninterruptedRun()
    {
        using var scratch = new ScratchDirectory("resume");
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);
        var log = new List<string>();

        var whole = Trainer.Run(new TrainRequest { RunDirectory = Path.Combine(scratch.Path, "whole"), CorpusPath = corpus, Preset = TinyPreset(10), Threads = 1 }, log.Add);
        string interruptedDirectory = Path.Combine(scratch.Path, "interrupted");
        var first = Trainer.Run(new TrainRequest { RunDirectory = interruptedDirectory, CorpusPath = corpus, Preset = TinyPreset(10), StopAfterStep = 6, Threads = 1 }, log.Add);
        var resumed = Trainer.Run(new TrainRequest { RunDirectory = interruptedDirectory, Resume = true, Threads = 1 }, log.Add);

        CollectionAssert.AreEqual(whole.Losses.Take(6).ToList(), first.Losses.ToList(), "the first 6 steps");
        CollectionAssert.AreEqual(whole.Losses.Skip(6).ToList(), resumed.Losses.ToList(), "steps 7 to 10 after resuming");
        Assert.AreEqual(whole.ValidationLoss, resumed.ValidationLoss);
        Assert.IsTrue(Directory.Exists(Path.Combine(interruptedDirectory, "checkpoint-000010")));
        Assert.IsTrue(Directory.Exists(Path.Combine(interruptedDirectory, "best")));
        Assert.IsFalse(Directory.EnumerateDirectories(interruptedDirectory, "*.tmp").Any(), "no temporary directory is left behind");
    }

    [TestMethod]
    public void Training_ReducesLoss()
    {
        using var scratch = new ScratchDirectory("learns");
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);

        var result = Trainer.Run(new TrainRequest { RunDirectory = Path.Combine(scratch.Path, "run"), CorpusPath = corpus, Preset = TinyPreset(40) }, _ => { });

        double early = result.Losses.Take(3).Average(l => l.Loss);
        double late = result.Losses.TakeLast(3).Average(l => l.Loss);
        Assert.IsLessThan(early - 0.5, late, $"loss went from {early:F3} to {late:F3}");
    }

    [TestMethod]
    public void NewRun_IntoDirectoryWithCheckpoints_IsRejected()
    {
        using var scratch = new ScratchDirectory("existing");
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);
        string run = Path.Combine(scratch.Path, "run");
        Trainer.Run(new TrainRequest { RunDirectory = run, CorpusPath = corpus, Preset = TinyPreset(4) }, _ => { });

        var error = Assert.ThrowsExactly<InvalidOperationException>(() =>
            Trainer.Run(new TrainRequest { RunDirectory = run, CorpusPath = corpus, Preset = TinyPreset(4) }, _ => { }));

        StringAssert.Contains(error.Message, "--resume");
        Assert.IsTrue(Directory.Exists(Path.Combine(run, "checkpoint-000004")), "the existing checkpoint is kept");
    }
}

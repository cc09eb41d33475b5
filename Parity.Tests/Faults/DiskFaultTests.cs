using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training.Checkpoints;
using SimpleTransformer.Training.Optimization;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>Checkpoint writes that fail (full disk, read-only directory, NaN weights) and what a killed process leaves behind.</summary>
[TestClass]
public sealed class DiskFaultTests
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(90);

    [TestMethod]
    public void FullDisk_KeepsPreviousCheckpoint()
    {
        using var scratch = new ScratchDirectory("full-disk");
        string corpus = FaultFixtures.WriteCorpus(scratch.Path);
        var training = FaultFixtures.TinyTraining(8);
        training["checkpoint_interval"] = 2;
        string preset = FaultFixtures.WritePreset(scratch.Path, FaultFixtures.TinyModel(), training);
        using var disk = TmpfsMount.MountOrSkip(Path.Combine(scratch.Path, "disk"), 4 << 20);
        string run = Path.Combine(disk.Path, "run");
        string reference = Path.Combine(scratch.Path, "reference");

        var first = TrainingProcess.RunTrain(ProcessTimeout, "--preset", preset, "--corpus", corpus, "--output", run, "--threads", "1", "--stop-after", "2");
        Assert.AreEqual(0, first.ExitCode, string.Join("\n", first.Error));
        string previous = Path.Combine(run, "checkpoint-000002");
        var before = Snapshot(previous);

        // The weights (about 92 kB) still fit, the optimizer moments (about 185 kB) do not.
        string filler = disk.FillLeaving(150_000);
        var full = TrainingProcess.RunTrain(ProcessTimeout, "--resume", "--output", run, "--threads", "1");

        Assert.AreEqual(1, full.ExitCode);
        Assert.HasCount(1, full.Error, $"one error line, no stack trace: {string.Join("\n", full.Error)}");
        StringAssert.StartsWith(full.Error[0], "error: Could not write checkpoint");
        StringAssert.Contains(full.Error[0], Path.Combine(run, "checkpoint-000004"));
        StringAssert.Contains(full.Error[0], "--resume");
        Assert.AreEqual(previous, new CheckpointStore(run).Latest);
        AssertSnapshot(before, previous);
        Assert.IsFalse(Directory.Exists(Path.Combine(run, "checkpoint-000004.tmp")), "the partial checkpoint is removed");
        FaultFixtures.AssertCheckpointsWhole(run, "after the failed write");

        File.Delete(filler);
        var resumed = TrainingProcess.RunTrain(ProcessTimeout, "--resume", "--output", run, "--threads", "1");
        Assert.AreEqual(0, resumed.ExitCode, string.Join("\n", resumed.Error));
        var uninterrupted = TrainingProcess.RunTrain(ProcessTimeout, "--preset", preset, "--corpus", corpus, "--output", reference, "--threads", "1");
        Assert.AreEqual(0, uninterrupted.ExitCode, string.Join("\n", uninterrupted.Error));
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(reference, "checkpoint-000008", CheckpointStore.WeightsFile)),
            File.ReadAllBytes(Path.Combine(run, "checkpoint-000008", CheckpointStore.WeightsFile)),
            "after freeing space, resuming ends with the weights of an uninterrupted run");
    }

    [TestMethod]
    public void ReadOnlyDirectory_KeepsPreviousCheckpoint()
    {
        using var scratch = new ScratchDirectory("read-only");
        string corpus = FaultFixtures.WriteSmallAlphabetCorpus(scratch.Path);
        using var disk = TmpfsMount.MountOrSkip(Path.Combine(scratch.Path, "disk"), 4 << 20);
        string run = Path.Combine(disk.Path, "run");
        string previous = FaultFixtures.WriteTrainingCheckpoint(Path.Combine(run, "checkpoint-000001"), 1, corpus);
        var before = Snapshot(previous);
        disk.RemountReadOnly();

        var store = new CheckpointStore(run);
        var checkpoint = TrainingCheckpoint.Load(previous);
        using var optimizer = new AdamW([], 0.9, 0.99, 1e-8, 0.1);
        var error = Assert.ThrowsExactly<IOException>(() => store.Save(checkpoint.Config, checkpoint.Tokenizer, checkpoint.Weights.Values,
            optimizer, checkpoint.State with { Step = 2 }, keepLast: 1, isBest: true));

        StringAssert.Contains(error.Message, Path.Combine(run, "checkpoint-000002"));
        StringAssert.Contains(error.Message, "Read-only file system");
        AssertSnapshot(before, previous);

        var cli = TrainingProcess.RunTrain(ProcessTimeout, "--resume", "--output", run, "--threads", "1");
        Assert.AreEqual(1, cli.ExitCode);
        Assert.HasCount(1, cli.Error, $"one error line, no stack trace: {string.Join("\n", cli.Error)}");
        StringAssert.StartsWith(cli.Error[0], "error: ");
        StringAssert.Contains(cli.Error[0], run);
        StringAssert.Contains(cli.Error[0], "Read-only file system");
        AssertSnapshot(before, previous);
    }

    [TestMethod]
    public void OutputUnderFile_FailsBeforeTraining()
    {
        using var scratch = new ScratchDirectory("not-a-directory");
        string corpus = FaultFixtures.WriteCorpus(scratch.Path);
        string preset = FaultFixtures.WritePreset(scratch.Path, FaultFixtures.TinyModel(), FaultFixtures.TinyTraining(4));
        string file = Path.Combine(scratch.Path, "occupied");
        File.WriteAllText(file, "a file where the run directory's parent should be");

        var (exitCode, output, error) = TrainingProcess.RunTrain(ProcessTimeout, "--preset", preset, "--corpus", corpus, "--output", Path.Combine(file, "run"));

        Assert.AreEqual(1, exitCode);
        Assert.HasCount(1, error, string.Join("\n", error));
        StringAssert.StartsWith(error[0], "error: ");
        StringAssert.Contains(error[0], file);
        Assert.IsFalse(output.Any(l => l.StartsWith("step ", StringComparison.Ordinal)), "no step ran");
    }

    [TestMethod]
    public void NonFiniteWeights_AreNotSaved()
    {
        using var scratch = new ScratchDirectory("nan-save");
        string corpus = FaultFixtures.WriteSmallAlphabetCorpus(scratch.Path);
        string run = Path.Combine(scratch.Path, "run");
        string previous = FaultFixtures.WriteTrainingCheckpoint(Path.Combine(run, "checkpoint-000001"), 1, corpus);
        var checkpoint = TrainingCheckpoint.Load(previous);
        var weights = checkpoint.Weights.Values.Select(t => t with { Data = (float[])t.Data.Clone() }).ToList();
        var damaged = weights.Single(t => t.Name == "layers.1.mlp.fc_in.weight");
        damaged.Data[7] = float.PositiveInfinity;
        using var optimizer = new AdamW([], 0.9, 0.99, 1e-8, 0.1);

        var error = Assert.ThrowsExactly<NonFiniteLossException>(() => new CheckpointStore(run).Save(checkpoint.Config, checkpoint.Tokenizer,
            weights, optimizer, checkpoint.State with { Step = 2 }, keepLast: 1, isBest: false));

        StringAssert.Contains(error.Message, "step 2");
        StringAssert.Contains(error.Message, "'layers.1.mlp.fc_in.weight' contains Infinity at element 7");
        CollectionAssert.AreEqual(new[] { "checkpoint-000001" }, Directory.GetDirectories(run).Select(Path.GetFileName).ToArray(),
            "nothing is written and the previous checkpoint is not pruned");
    }

    [TestMethod]
    public void Leftovers_IgnoredRemovedAndResumed()
    {
        using var scratch = new ScratchDirectory("leftovers");
        string corpus = FaultFixtures.WriteSmallAlphabetCorpus(scratch.Path);
        string run = Path.Combine(scratch.Path, "run");
        FaultFixtures.WriteTrainingCheckpoint(Path.Combine(run, "checkpoint-000001"), 1, corpus);
        string newest = FaultFixtures.WriteTrainingCheckpoint(Path.Combine(run, "checkpoint-000002"), 2, corpus, seed: 2);

        // What kills leave: a half-written checkpoint, a half-deleted one, and a best/ caught between two renames.
        string partial = Path.Combine(run, "checkpoint-000003.tmp");
        Directory.CreateDirectory(partial);
        File.WriteAllText(Path.Combine(partial, ModelConfig.FileName), "{\"vocab_size\": 11, \"hidden_");
        string deleting = Path.Combine(run, "checkpoint-000000.deleting");
        Directory.CreateDirectory(deleting);
        File.WriteAllBytes(Path.Combine(deleting, CheckpointStore.WeightsFile), [1, 2, 3]);
        string bestOld = FaultFixtures.WriteTrainingCheckpoint(Path.Combine(run, "best.old"), 2, corpus, seed: 2);
        string bestTemporary = Path.Combine(run, "best.tmp");
        Directory.CreateDirectory(bestTemporary);

        var store = new CheckpointStore(run);
        CollectionAssert.AreEqual(new[] { "checkpoint-000001", "checkpoint-000002" }, store.List().Select(Path.GetFileName).ToArray());
        Assert.AreEqual(newest, store.Latest);

        var removed = store.RemoveLeftovers();
        CollectionAssert.AreEquivalent(new[] { partial, deleting, bestTemporary }, removed.ToArray());
        Assert.IsFalse(Directory.Exists(bestOld), "best.old is renamed back");
        TrainingCheckpoint.Load(Path.Combine(run, CheckpointStore.BestDirectory));

        string stale = Path.Combine(run, "checkpoint-000099.tmp");
        Directory.CreateDirectory(stale);
        var resumed = TrainingProcess.RunTrain(ProcessTimeout, "--resume", "--output", run, "--threads", "1");
        Assert.AreEqual(0, resumed.ExitCode, string.Join("\n", resumed.Error));
        Assert.AreEqual(Path.Combine(run, "checkpoint-000010"), store.Latest);
        Assert.IsFalse(Directory.Exists(stale), "the resumed run removes leftovers when it saves");
        FaultFixtures.AssertCheckpointsWhole(run, "after resuming past leftovers");
    }

    private static Dictionary<string, byte[]> Snapshot(string directory) =>
        Directory.GetFiles(directory).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);

    private static void AssertSnapshot(Dictionary<string, byte[]> expected, string directory)
    {
        var actual = Snapshot(directory);
        CollectionAssert.AreEquivalent(expected.Keys.ToList(), actual.Keys.ToList(), $"files of '{directory}'");
        foreach (var (name, bytes) in expected)
        {
            CollectionAssert.AreEqual(bytes, actual[name], $"'{name}' of '{directory}' is unchanged");
        }
    }
}

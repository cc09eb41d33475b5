using System.Globalization;
using System.Text.RegularExpressions;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training.Checkpoints;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>A run that diverges stops at the first non-finite step and keeps every earlier checkpoint.</summary>
[TestClass]
public sealed partial class NonFiniteLossTests
{
    [TestMethod]
    public void DivergingRun_KeepsEarlierCheckpoints()
    {
        using var scratch = new ScratchDirectory("diverge");
        string corpus = FaultFixtures.WriteCorpus(scratch.Path);
        var training = FaultFixtures.TinyTraining(12);
        training["learning_rate"] = 1e6;
        training["min_learning_rate"] = 0.0;
        training["warmup_steps"] = 10_000;
        training["grad_clip"] = 0.0;
        training["keep_last"] = 100;
        string preset = FaultFixtures.WritePreset(scratch.Path, FaultFixtures.TinyModel(), training);
        string run = Path.Combine(scratch.Path, "run");

        var (exitCode, output, error) = TrainingProcess.RunTrain(TimeSpan.FromSeconds(90), "--preset", preset, "--corpus", corpus, "--output", run, "--threads", "1");

        Assert.AreEqual(1, exitCode, string.Join("\n", output.TakeLast(3)));
        Assert.HasCount(1, error, $"one error line, no stack trace: {string.Join("\n", error)}");
        var match = StoppedAtStep().Match(error[0]);
        Assert.IsTrue(match.Success, $"the error names the step: {error[0]}");
        long stoppedAt = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.IsGreaterThanOrEqualTo(2L, stoppedAt, "the run diverges after at least one good step");
        StringAssert.Contains(error[0], "learning_rate");

        var store = new CheckpointStore(run);
        CollectionAssert.AreEqual(Enumerable.Range(1, (int)stoppedAt - 1).Select(s => (long?)s).ToList(),
            store.List().Select(CheckpointStore.StepOf).ToList(), $"a checkpoint for every step before {stoppedAt} and none after");
        Assert.IsEmpty(Directory.GetDirectories(run, "*.tmp"), "no partial checkpoint");
        FaultFixtures.AssertCheckpointsWhole(run, "after the run diverged");
        Assert.IsFalse(FaultFixtures.ReadMetrics(run).Any(m => m.Step >= stoppedAt), "no metrics line for the failed step");
    }

    [GeneratedRegex(@"^error: Training stopped at step (\d+):")]
    private static partial Regex StoppedAtStep();
}

using System.Diagnostics;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training.Checkpoints;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>
/// Kills real training processes (SIGKILL, no chance to clean up) between steps, inside checkpoint writes and
/// while old checkpoints are pruned, resumes each time, and compares the result with an uninterrupted run.
/// </summary>
[TestClass]
public sealed class TrainingKillTests
{
    // The plans aim at steps 3 to 23. The steps after them are a margin: a plan whose window has passed falls back to
    // killing after FallbackStepLines steps of its own, so every kill still lands before the run ends.
    private const int MaxSteps = 50;

    private const int FallbackStepLines = 6;
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(90);

    public TestContext TestContext { get; set; } = null!;

    /// <summary>One kill: a description and the condition, polled in a tight loop, that triggers it.</summary>
    private sealed record KillPlan(string Description, Func<TrainingProcess, string, bool> Trigger);

    [TestMethod]
    public void KilledAndResumedRun_MatchesUninterruptedRun()
    {
        using var scratch = new ScratchDirectory("kill");
        string corpus = FaultFixtures.WriteCorpus(scratch.Path);
        string preset = FaultFixtures.WritePreset(scratch.Path, FaultFixtures.TinyModel(), FaultFixtures.TinyTraining(MaxSteps));
        string reference = Path.Combine(scratch.Path, "reference");
        string killed = Path.Combine(scratch.Path, "killed");

        var (exitCode, _, error) = TrainingProcess.RunTrain(ProcessTimeout, "--preset", preset, "--corpus", corpus, "--output", reference, "--threads", "1");
        Assert.AreEqual(0, exitCode, string.Join("\n", error));

        // Each trigger has a later fallback, so every kill lands before the run ends even when a short window is missed.
        var random = new Random(20240611);
        var plans = new List<KillPlan>
        {
            new("after the line of step 3", (p, _) => HasLine(p, "step      3/")),
            new("when checkpoint-000006.tmp appears (inside the checkpoint write)", (_, run) =>
                Exists(run, "checkpoint-000006.tmp") || Exists(run, "checkpoint-000007")),
            new("when checkpoint-000009.tmp holds an optimizer.safetensors.tmp-* file (inside a file write)", (_, run) =>
                HasFile(Path.Combine(run, "checkpoint-000009.tmp"), "optimizer.safetensors.tmp-*") || Exists(run, "checkpoint-000010")),
            new("after the line 'saved checkpoint .../checkpoint-000012'", (p, _) =>
                p.Output.Any(l => l.StartsWith("saved checkpoint", StringComparison.Ordinal) && l.EndsWith("checkpoint-000012", StringComparison.Ordinal))),
            new("when checkpoint-000013.deleting appears (while pruning)", (_, run) =>
                Exists(run, "checkpoint-000013.deleting") || Exists(run, "checkpoint-000015")),
            AfterStep(random, 17, 18),
            AfterStep(random, 20, 21),
            new("when checkpoint-000022.tmp appears", (_, run) => Exists(run, "checkpoint-000022.tmp") || Exists(run, "checkpoint-000023")),
        };

        int killsBeforeEnd = 0, killsInsideWrites = 0;
        for (int i = 0; i < plans.Count; i++)
        {
            string[] arguments = i == 0
                ? ["--preset", preset, "--corpus", corpus, "--output", killed, "--threads", "1"]
                : ["--resume", "--output", killed, "--threads", "1"];
            bool completed = RunAndKill(plans[i], killed, arguments);
            var leftovers = Directory.Exists(killed)
                ? Directory.GetDirectories(killed).Select(Path.GetFileName).Where(n => n!.Contains('.')).ToList()
                : [];
            long? latest = FaultFixtures.AssertCheckpointsWhole(killed, $"after the kill {plans[i].Description}");
            AssertMetricsMatch(reference, killed, $"after the kill {plans[i].Description}");

            killsBeforeEnd += completed ? 0 : 1;
            killsInsideWrites += leftovers.Any(n => n!.EndsWith(".tmp", StringComparison.Ordinal)) ? 1 : 0;
            TestContext.WriteLine($"kill {i + 1} {plans[i].Description}: {(completed ? "the run had already finished" : "killed")}, newest checkpoint {latest?.ToString() ?? "none"}, leftovers [{string.Join(", ", leftovers)}]");
        }

        var (resumeExit, _, resumeError) = TrainingProcess.RunTrain(ProcessTimeout, "--resume", "--output", killed, "--threads", "1");
        Assert.AreEqual(0, resumeExit, string.Join("\n", resumeError));

        // The test reads the child's output asynchronously, and on a loaded machine it can see a line several steps
        // late, so a late kill can push the last plans past the end of the run. Half of them must still land.
        Assert.IsGreaterThanOrEqualTo(plans.Count / 2, killsBeforeEnd, "kills that landed before the run finished");
        Assert.IsGreaterThanOrEqualTo(1, killsInsideWrites, "kills that left a partly written checkpoint directory behind");
        AssertMetricsMatch(reference, killed, "after the final resume");
        CollectionAssert.AreEquivalent(Enumerable.Range(1, MaxSteps).Select(s => (long)s).ToList(),
            FaultFixtures.ReadMetrics(killed).Select(m => m.Step).Distinct().ToList(), "every step is logged");
        string last = $"checkpoint-{MaxSteps:D6}";
        AssertSameFiles(Path.Combine(reference, last), Path.Combine(killed, last));
        AssertSameFiles(Path.Combine(reference, CheckpointStore.BestDirectory), Path.Combine(killed, CheckpointStore.BestDirectory));
        Assert.IsEmpty(Directory.GetDirectories(killed).Where(d => Path.GetFileName(d).Contains('.')).ToList(), "no leftover directory after a full run");
    }

    /// <summary>Starts the program, kills it when the plan's trigger fires, and returns whether it finished first.</summary>
    private static bool RunAndKill(KillPlan plan, string runDirectory, string[] arguments)
    {
        using var process = TrainingProcess.StartTrain(arguments);
        var clock = Stopwatch.StartNew();
        while (!process.HasExited && !plan.Trigger(process, runDirectory) && StepLines(process) < FallbackStepLines)
        {
            if (clock.Elapsed > ProcessTimeout)
            {
                Assert.Fail($"The kill {plan.Description} did not trigger within {ProcessTimeout.TotalSeconds} s.");
            }

            Thread.Yield();
        }

        if (process.HasExited)
        {
            process.WaitForExit(ProcessTimeout);
            Assert.AreEqual(0, process.ExitCode, $"the run before the kill {plan.Description} failed: {string.Join("\n", process.Error)}");
            return true;
        }

        process.Kill();
        return false;
    }

    // A kill that landed late on a loaded machine can leave the next plans' windows behind the resumed run.
    private static int StepLines(TrainingProcess process) => process.Output.Count(l => l.StartsWith("step ", StringComparison.Ordinal));

    /// <summary>Kills a random 0 to 15 ms after the line of a random step in [<paramref name="first"/>, <paramref name="last"/>].</summary>
    private static KillPlan AfterStep(Random random, int first, int last)
    {
        int step = random.Next(first, last + 1);
        var delay = TimeSpan.FromMilliseconds(random.Next(0, 16));
        Stopwatch? sinceLine = null;
        return new KillPlan($"{delay.TotalMilliseconds} ms after the line of step {step}", (p, _) =>
        {
            sinceLine ??= HasLine(p, $"step {step,6}/") ? Stopwatch.StartNew() : null;
            return sinceLine is not null && sinceLine.Elapsed >= delay;
        });
    }

    private static bool HasLine(TrainingProcess process, string prefix) => process.Output.Any(l => l.StartsWith(prefix, StringComparison.Ordinal));

    private static bool Exists(string runDirectory, string name) => Directory.Exists(Path.Combine(runDirectory, name));

    private static bool HasFile(string directory, string pattern)
    {
        try
        {
            return Directory.Exists(directory) && Directory.EnumerateFiles(directory, pattern).Any();
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Every line of the interrupted run's metrics, repeated steps included, equals the reference line of its step.</summary>
    private static void AssertMetricsMatch(string reference, string killed, string when)
    {
        if (!File.Exists(Path.Combine(killed, "metrics.jsonl")))
        {
            return;
        }

        var expected = FaultFixtures.ReadMetrics(reference).ToDictionary(m => m.Step);
        foreach (var line in FaultFixtures.ReadMetrics(killed))
        {
            Assert.AreEqual(expected[line.Step], line, $"{when}: metrics of step {line.Step}");
        }
    }

    private static void AssertSameFiles(string expectedDirectory, string actualDirectory)
    {
        var names = Directory.GetFiles(expectedDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        CollectionAssert.AreEqual(names, Directory.GetFiles(actualDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList(),
            $"files of '{actualDirectory}'");
        foreach (string? name in names)
        {
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(expectedDirectory, name!)), File.ReadAllBytes(Path.Combine(actualDirectory, name!)),
                $"'{name}' of '{actualDirectory}' equals the uninterrupted run's");
        }
    }
}

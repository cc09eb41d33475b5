using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Parity.Tests.Model;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>Out-of-range or conflicting training options are rejected with one error line, before they reach LibTorch.</summary>
[TestClass]
public sealed class CommandLineOptionTests
{
    [TestMethod]
    [DataRow("--threads", "0", "--threads is 0")]
    [DataRow("--threads", "-1", "--threads is -1")]
    [DataRow("--stop-after", "0", "--stop-after is 0")]
    public void NewRun_OptionOutOfRange_PrintsOneErrorLine(string option, string value, string fragment)
    {
        using var scratch = new ScratchDirectory("cli-options");
        string run = Path.Combine(scratch.Path, "run");

        var (exitCode, _, error) = TrainingProcess.RunTrain(TimeSpan.FromSeconds(60),
            "--preset", RepositoryFiles.Get("models/quick.json"), "--corpus", RepositoryFiles.Get("data/brown-sample.txt"), "--output", run, option, value);

        Assert.AreEqual(1, exitCode);
        Assert.HasCount(1, error, $"one error line, no native stack trace: {string.Join("\n", error)}");
        StringAssert.Contains(error[0], fragment);
        Assert.IsFalse(Directory.Exists(run), "nothing is written");
    }

    [TestMethod]
    [DataRow("--max-steps", "40")]
    [DataRow("--preset", "models/quick.json")]
    public void Resume_WithScheduleOption_IsRejected(string option, string value)
    {
        using var scratch = new ScratchDirectory("cli-resume");
        string argument = option == "--preset" ? RepositoryFiles.Get(value) : value;

        var (exitCode, _, error) = TrainingProcess.RunTrain(TimeSpan.FromSeconds(60), "--output", scratch.Path, "--resume", option, argument);

        Assert.AreEqual(1, exitCode);
        Assert.HasCount(1, error);
        StringAssert.Contains(error[0], "apply to new runs only");
    }
}

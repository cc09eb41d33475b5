using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SimpleTransformer.Parity.Tests.Export;

namespace SimpleTransformer.Parity.Tests.TrainingTests;

[TestClass]
public sealed partial class MemoryCommandTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void MemoryCommand_ReportsComputedAndMeasuredSizes()
    {
        using var scratch = new ScratchDirectory("memory");

        string output = RunMemory(scratch);

        long parameters = long.Parse(ParameterCount().Match(output).Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.AreEqual(Mebibytes(parameters * 4), Reported(output, "weights (fp32)"));
        Assert.AreEqual(Mebibytes(parameters * 4), Reported(output, "gradients (fp32)"));
        Assert.AreEqual(Mebibytes(parameters * 8), Reported(output, "AdamW moments (fp32)"));
        double activations = double.Parse(Reported(output, "activations and temporaries"), CultureInfo.InvariantCulture);
        double before = double.Parse(Reported(output, "resident before the step"), CultureInfo.InvariantCulture);
        double peak = double.Parse(Reported(output, "peak process memory"), CultureInfo.InvariantCulture);
        Assert.IsGreaterThan(1.0, activations, "a 16 x 64 batch through 4 layers needs more than 1 MiB of activations");
        Assert.AreEqual(peak - before, activations, 0.02, "activations are the peak minus the resident size before the step");
    }

    [TestMethod]
    public void MemoryCommand_CheckpointingSavesActivations()
    {
        using var scratch = new ScratchDirectory("memory-compare");

        string output = RunMemory(scratch, "--compare", "64");

        var rows = TableRow().Matches(output).ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.HasCount(2, rows, output);
        Assert.IsLessThan(0.75 * rows["off"], rows["on"], "checkpointing keeps one layer's activations instead of four");
    }

    /// <summary>Runs <c>memory</c> for a 4-layer model (C = 64, I = 256) on 16 × 64 tokens and returns its output.</summary>
    private string RunMemory(ScratchDirectory scratch, params string[] extra)
    {
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);
        var model = new JsonObject
        {
            ["hidden_size"] = 64,
            ["num_hidden_layers"] = 4,
            ["num_attention_heads"] = 4,
            ["intermediate_size"] = 256,
            ["max_position_embeddings"] = 64,
        };
        string preset = TrainingFixtures.WritePreset(scratch.Path, model, TrainingFixtures.TinyOptions(maxSteps: 10) with { BatchSize = 16, SequenceLength = 64 });

        var (exitCode, output, error) = TrainingFixtures.RunProgram(TimeSpan.FromMinutes(2),
            ["memory", "--preset", preset, "--corpus", corpus, "--threads", "1", .. extra]);
        TestContext.WriteLine(output);

        Assert.AreEqual(0, exitCode, $"stdout: {output}\nstderr: {error}");
        return output;
    }

    private static string Mebibytes(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F2", CultureInfo.InvariantCulture);

    private static string Reported(string output, string label)
    {
        var match = Regex.Match(output, $@"^  {Regex.Escape(label)} +(\d+\.\d\d) MiB", RegexOptions.Multiline);
        Assert.IsTrue(match.Success, $"'{label}' is missing from the report:\n{output}");
        return match.Groups[1].Value;
    }

    [GeneratedRegex(@"model: ([\d,]+) parameters")]
    private static partial Regex ParameterCount();

    [GeneratedRegex(@"^\| 64 \| 16 \| (off|on) \| (\d+\.\d) \| \d+\.\d \|$", RegexOptions.Multiline)]
    private static partial Regex TableRow();
}

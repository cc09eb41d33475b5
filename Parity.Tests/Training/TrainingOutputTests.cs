using System.Buffers.Binary;
using System.Text.Json;
using System.Text.RegularExpressions;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training.Logging;

namespace SimpleTransformer.Parity.Tests.TrainingTests;

[TestClass]
public sealed partial class TrainingOutputTests
{
    private static readonly string[] MetricsKeys =
        ["step", "train_loss", "validation_loss", "learning_rate", "grad_norm", "tokens_per_second", "elapsed_seconds"];

    [TestMethod]
    public void TrainCommand_WritesLogMetricsAndPlot()
    {
        using var scratch = new ScratchDirectory("train-output");
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);
        var options = TrainingFixtures.TinyOptions(maxSteps: 4) with { LogInterval = 1, EvalInterval = 2, CheckpointInterval = 2 };
        string preset = TrainingFixtures.WritePreset(scratch.Path, TrainingFixtures.TinyModel(), options);
        string run = Path.Combine(scratch.Path, "run");

        var (exitCode, output, error) = TrainingFixtures.RunProgram(TimeSpan.FromMinutes(2),
            "train", "--preset", preset, "--corpus", corpus, "--output", run, "--threads", "1");

        Assert.AreEqual(0, exitCode, $"stdout: {output}\nstderr: {error}");
        Assert.DoesNotContain("\r", output, "no progress bar in redirected output");
        Assert.DoesNotContain("\u001b", output, "no terminal escape sequences in redirected output");
        var stepLines = output.Split('\n').Where(l => l.StartsWith("step ", StringComparison.Ordinal)).ToList();
        Assert.HasCount(4, stepLines, output);
        foreach (string line in stepLines)
        {
            Assert.MatchesRegex(LogLine(), line);
        }

        var metrics = File.ReadAllLines(Path.Combine(run, MetricsFile.FileName));
        Assert.HasCount(4, metrics);
        for (int i = 0; i < metrics.Length; i++)
        {
            using var record = JsonDocument.Parse(metrics[i]);
            var keys = record.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
            CollectionAssert.AreEqual(MetricsKeys, keys, $"keys of line {i + 1}");
            Assert.AreEqual(i + 1, record.RootElement.GetProperty("step").GetInt64(), $"step of line {i + 1}");
            bool evaluated = (i + 1) % 2 == 0;
            Assert.AreEqual(evaluated ? JsonValueKind.Number : JsonValueKind.Null, record.RootElement.GetProperty("validation_loss").ValueKind, $"validation_loss of line {i + 1}");
        }

        AssertValidPng(Path.Combine(run, LossPlot.FileName), LossPlot.Width, LossPlot.Height);
    }

    [TestMethod]
    public void LossPlot_WritesValidPng()
    {
        using var scratch = new ScratchDirectory("loss-plot");
        string path = Path.Combine(scratch.Path, "loss.png");
        var records = Enumerable.Range(1, 30)
            .Select(s => new MetricsRecord { Step = s * 10, TrainLoss = 4.0 / s, ValidationLoss = s % 5 == 0 ? 4.2 / s : null })
            .ToList();

        LossPlot.Write(records, path);

        AssertValidPng(path, LossPlot.Width, LossPlot.Height);
    }

    [TestMethod]
    public void MetricsFile_KeepsLastLinePerStep()
    {
        using var scratch = new ScratchDirectory("metrics");
        string path = Path.Combine(scratch.Path, MetricsFile.FileName);
        MetricsFile.Append(path, new MetricsRecord { Step = 10, TrainLoss = 3.0 });
        MetricsFile.Append(path, new MetricsRecord { Step = 20, TrainLoss = 2.5 });
        MetricsFile.Append(path, new MetricsRecord { Step = 20, TrainLoss = 2.4, ValidationLoss = 2.6 });

        var records = MetricsFile.Read(path);

        CollectionAssert.AreEqual(new long[] { 10, 20 }, records.Select(r => r.Step).ToArray());
        Assert.AreEqual(2.4, records[1].TrainLoss, "a resumed run's line replaces the earlier one");
        Assert.AreEqual(2.6, records[1].ValidationLoss);
    }

    [TestMethod]
    public void MetricsFile_SkipsLineCutByKill()
    {
        using var scratch = new ScratchDirectory("metrics-cut");
        string path = Path.Combine(scratch.Path, "metrics.jsonl");
        MetricsFile.Append(path, new MetricsRecord { Step = 10, TrainLoss = 3.0 });
        File.AppendAllText(path, "{\"step\":20,\"train_lo");   // a process killed in the middle of an append

        var afterKill = MetricsFile.Read(path);
        MetricsFile.Append(path, new MetricsRecord { Step = 20, TrainLoss = 2.5 });
        var afterResume = MetricsFile.Read(path);

        Assert.HasCount(1, afterKill);
        Assert.AreEqual(10, afterKill[0].Step);
        Assert.HasCount(2, afterResume);
        Assert.AreEqual(2.5, afterResume[1].TrainLoss);
    }

    [TestMethod]
    public void ProgressBar_RedrawsBelowLogLines()
    {
        var output = new StringWriter();
        using (var bar = new ConsoleProgressBar(output, () => 60))
        {
            bar.Update(1, 4);
            bar.WriteLine("step 1/4");
            bar.Update(4, 4);
        }

        string text = output.ToString();
        StringAssert.Contains(text, "step 1/4" + Environment.NewLine);
        StringAssert.Contains(text, "4/4 100% ETA 00:00:00");
        Assert.IsTrue(text.EndsWith("\r\u001b[2K", StringComparison.Ordinal), "disposing erases the bar");
    }

    [TestMethod]
    public void ProgressBar_FitsWidthAndShowsEta()
    {
        var bar = new ConsoleProgressBar(TextWriter.Null, () => 50);
        bar.Update(10, 100);

        string line = bar.Render();

        Assert.IsLessThanOrEqualTo(50, line.Length);
        Assert.MatchesRegex(new Regex(@"^\[#*\.*\] 10/100 +10% ETA (--:--:--|\d\d:\d\d:\d\d)$"), line);
    }

    /// <summary>Checks the PNG signature, that the first chunk is IHDR with the expected size and a valid CRC, and that IEND ends the file.</summary>
    private static void AssertValidPng(string path, int width, int height)
    {
        Assert.IsTrue(File.Exists(path), $"{path} exists");
        byte[] png = File.ReadAllBytes(path);
        CollectionAssert.AreEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8], "PNG signature");
        Assert.AreEqual(13, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(8)), "IHDR length");
        Assert.AreEqual("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4), "first chunk type");
        Assert.AreEqual(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), "IHDR width");
        Assert.AreEqual(height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)), "IHDR height");
        Assert.AreEqual(Crc32(png.AsSpan(12, 17)), BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(29)), "IHDR CRC");
        Assert.AreEqual("IEND", System.Text.Encoding.ASCII.GetString(png, png.Length - 8, 4), "last chunk type");
    }

    /// <summary>Returns the CRC-32 that PNG chunks carry (ISO 3309, reflected polynomial 0xEDB88320), bit by bit.</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte value in data)
        {
            crc ^= value;
            for (int bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        }

        return ~crc;
    }

    [GeneratedRegex(@"^step +\d+/4 \| loss \d+\.\d{4} \| val (\d+\.\d{4}| {6}) \| lr \d\.\d\de[+-]\d\d \| grad +\d+\.\d{3} \| +\d+ tok/s \| \d\d:\d\d:\d\d$")]
    private static partial Regex LogLine();
}

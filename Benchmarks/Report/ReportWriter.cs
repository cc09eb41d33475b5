using System.Globalization;
using System.Text;
using SimpleTransformer.Inference;

namespace SimpleTransformer.Benchmarks.Report;

/// <summary>Writes a run's results as one Markdown page (and the context chart next to it) or prints them.</summary>
public static class ReportWriter
{
    /// <summary>The results page's file name.</summary>
    public const string FileName = "benchmarks.md";

    /// <summary>Returns the whole page: command, machine, load, targets and every measured section.</summary>
    public static string Render(BenchmarkRun run, string command, string loadAfter, TimeSpan elapsed)
    {
        var page = new StringBuilder();
        page.AppendLine("# Benchmarks");
        page.AppendLine();
        page.AppendLine("Measured by the `Benchmarks` project. Absolute times depend on the machine below, while the ratios are measured " +
            "side by side in interleaved rounds, so they carry over better. Rerun the command to reproduce them on your machine:");
        page.AppendLine();
        page.AppendLine("```");
        page.AppendLine(command);
        page.AppendLine("```");
        page.AppendLine();
        page.AppendLine($"Setting `{run.Settings.Name}`, {run.Settings.Threads} intra-op thread(s) for TorchSharp, ONNX Runtime and PyTorch, " +
            $"run on {DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} in {elapsed.TotalMinutes:F1} minutes.");
        page.AppendLine();
        foreach (string line in run.Machine.ToMarkdownLines())
        {
            page.AppendLine(line);
        }

        if (!run.Settings.PresetShapes)
        {
            page.AppendLine("- **The tiny setting only checks that every part runs: its models are tiny and its numbers mean nothing.**");
        }

        page.AppendLine($"- load average (1, 5, 15 minutes) before: {run.LoadBefore}; after: {loadAfter}. A load above the core count means other processes shared the CPU during the run.");
        page.AppendLine();
        if (run.Targets.Count > 0)
        {
            page.AppendLine("## Targets");
            page.AppendLine();
            var targets = new MarkdownTable("target", "required", "measured", "met");
            foreach (var target in run.Targets)
            {
                targets.Add(target.Description, target.Required, target.Measured, target.Met ? "yes" : "**no**");
            }

            page.Append(targets);
            page.AppendLine();
        }

        var findings = Findings.Write(run).ToList();
        if (findings.Count > 0)
        {
            page.AppendLine("## Findings");
            page.AppendLine();
            foreach (string finding in findings)
            {
                page.AppendLine(finding);
                page.AppendLine();
            }
        }

        foreach (var section in run.Sections)
        {
            page.AppendLine($"## {section.Title}");
            page.AppendLine();
            page.AppendLine(section.Body.TrimEnd());
            page.AppendLine();
        }

        return page.ToString();
    }

    /// <summary>Writes <see cref="FileName"/> and, when the context part ran, <see cref="ContextChart.FileName"/> into <paramref name="directory"/>.</summary>
    public static void Write(BenchmarkRun run, string page, string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), page);
        if (run.ContextSeries.Count > 0)
        {
            string title = $"Per-token latency, batch 1, {run.Model.Config.NumLayers} layers, C = {run.Model.Config.HiddenSize}, {run.Settings.Threads} thread(s)";
            ContextChart.Write(run.ContextSeries, title, Path.Combine(directory, ContextChart.FileName));
        }
    }
}

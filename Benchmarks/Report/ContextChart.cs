using ScottPlot;
using SimpleTransformer.Inference;

namespace SimpleTransformer.Benchmarks.Report;

/// <summary>
/// Draws per-token latency against context length as a PNG with ScottPlot 5 (rendered through SkiaSharp), on a
/// logarithmic latency axis so that cached and uncached decoding fit on one chart.
/// </summary>
public static class ContextChart
{
    /// <summary>The chart's file name next to the results page.</summary>
    public const string FileName = "benchmarks-context.png";

    /// <summary>Image width in pixels.</summary>
    public const int Width = 900;

    /// <summary>Image height in pixels.</summary>
    public const int Height = 520;

    /// <summary>Writes the chart of <paramref name="series"/> (name to context and seconds) to <paramref name="path"/>.</summary>
    public static void Write(IReadOnlyDictionary<string, List<(double Context, double Seconds)>> series, string title, string path)
    {
        var plot = new Plot();
        foreach (var (name, points) in series)
        {
            double[] contexts = [.. points.Select(p => p.Context)];
            double[] logMilliseconds = [.. points.Select(p => Math.Log10(p.Seconds * 1e3))];
            var scatter = plot.Add.Scatter(contexts, logMilliseconds);
            scatter.LegendText = name;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
        }

        // ScottPlot has no log axis of its own: the values are log10(ms), and the ticks print 10^tick.
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = value => Format.Significant(Math.Pow(10, value)),
        };
        plot.Axes.Left.Label.Text = "per-token latency (ms, log scale)";
        plot.Axes.Bottom.Label.Text = "context length (tokens)";
        plot.Title(title);
        plot.ShowLegend(Alignment.UpperLeft);
        byte[] png = plot.GetImageBytes(Width, Height, ImageFormat.Png);
        AtomicFile.Write(path, stream => stream.Write(png));
    }
}

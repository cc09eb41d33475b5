using SimpleTransformer.Inference;
using ScottPlot;

namespace SimpleTransformer.Training.Logging;

/// <summary>
/// Draws the training and validation loss curves of a run as <c>loss.png</c> with ScottPlot 5, which renders
/// through SkiaSharp's native library.
/// </summary>
public static class LossPlot
{
    /// <summary>The file name inside the run directory.</summary>
    public const string FileName = "loss.png";

    /// <summary>Image width in pixels.</summary>
    public const int Width = 800;

    /// <summary>Image height in pixels.</summary>
    public const int Height = 500;

    /// <summary>Writes the plot of <paramref name="records"/> to <paramref name="path"/>, replacing it atomically.</summary>
    public static void Write(IReadOnlyList<MetricsRecord> records, string path)
    {
        var plot = new Plot();
        var steps = records.Select(r => (double)r.Step).ToArray();
        var train = plot.Add.Scatter(steps, records.Select(r => r.TrainLoss).ToArray());
        train.LegendText = "training";
        train.MarkerSize = 0;
        train.LineWidth = 2;

        var evaluated = records.Where(r => r.ValidationLoss is not null).ToList();
        if (evaluated.Count > 0)
        {
            var validation = plot.Add.Scatter(
                evaluated.Select(r => (double)r.Step).ToArray(),
                evaluated.Select(r => r.ValidationLoss!.Value).ToArray());
            validation.LegendText = "validation";
            validation.MarkerSize = 6;
        }

        plot.Title("Loss");
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats per token)");
        plot.ShowLegend(Alignment.UpperRight);

        byte[] png = plot.GetImageBytes(Width, Height, ImageFormat.Png);
        AtomicFile.Write(path, stream => stream.Write(png));
    }
}

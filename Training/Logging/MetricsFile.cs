using System.Text.Json;
using System.Text.Json.Serialization;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Training.Logging;

/// <summary>One line of <c>metrics.jsonl</c>: the values of one logging step.</summary>
public sealed record MetricsRecord
{
    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }

    /// <summary>Mean training loss (nats per token) over the steps since the previous line.</summary>
    [JsonPropertyName("train_loss")] public double TrainLoss { get; init; }

    /// <summary>Validation loss when this step evaluated it, otherwise null.</summary>
    [JsonPropertyName("validation_loss")] public double? ValidationLoss { get; init; }

    /// <summary>Learning rate of the step.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; }

    /// <summary>Global gradient L2 norm before clipping.</summary>
    [JsonPropertyName("grad_norm")] public double GradNorm { get; init; }

    /// <summary>Training tokens per second since the previous line.</summary>
    [JsonPropertyName("tokens_per_second")] public double TokensPerSecond { get; init; }

    /// <summary>Seconds since this process started training.</summary>
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }

    /// <summary>Copies the values of a progress line.</summary>
    public static MetricsRecord From(TrainingProgress line) => new()
    {
        Step = line.Step,
        TrainLoss = line.TrainLoss,
        ValidationLoss = line.ValidationLoss,
        LearningRate = line.LearningRate,
        GradNorm = line.GradNorm,
        TokensPerSecond = line.TokensPerSecond,
        ElapsedSeconds = line.Elapsed.TotalSeconds,
    };
}

/// <summary>
/// <c>metrics.jsonl</c> in the run directory: one JSON object per logging step, appended as the run goes.
/// A resumed run appends to the same file, so steps after the resumed checkpoint can appear twice; readers take
/// the last line of each step.
/// </summary>
public static class MetricsFile
{
    /// <summary>The file name inside the run directory.</summary>
    public const string FileName = "metrics.jsonl";

    /// <summary>Appends one record as a single line.</summary>
    public static void Append(string path, MetricsRecord record)
    {
        // A process killed during an append leaves a last line without its newline. The next record therefore starts
        // on a line of its own, and Read skips the cut line.
        string separator = EndsWithPartialLine(path) ? "\n" : "";
        File.AppendAllText(path, separator + JsonSerializer.Serialize(record) + "\n");
    }

    private static bool EndsWithPartialLine(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        using var stream = File.OpenRead(path);
        if (stream.Length == 0)
        {
            return false;
        }

        stream.Seek(-1, SeekOrigin.End);
        return stream.ReadByte() != '\n';
    }

    /// <summary>
    /// Reads the records of <paramref name="path"/> ordered by step, keeping the last line of each step. A line
    /// without its closing newline, cut short by a killed process, is skipped wherever it is.
    /// </summary>
    public static IReadOnlyList<MetricsRecord> Read(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var byStep = new SortedDictionary<long, MetricsRecord>();
        string text = File.ReadAllText(path);
        string[] lines = text.Split('\n');
        for (int index = 0; index < lines.Length; index++)
        {
            string line = lines[index];
            int lineNumber = index + 1;
            bool complete = index < lines.Length - 1;
            if (string.IsNullOrWhiteSpace(line) || !complete || IsCutLine(line, lines, index))
            {
                continue;
            }

            try
            {
                var record = JsonSerializer.Deserialize<MetricsRecord>(line)
                    ?? throw new InvalidDataException($"Invalid metrics file '{path}': line {lineNumber} is JSON null.");
                byStep[record.Step] = record;
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"Invalid metrics file '{path}': line {lineNumber}: {e.Message}", e);
            }
        }

        return [.. byStep.Values];
    }

    /// <summary>
    /// Whether <paramref name="line"/> is an append cut short: a line that is not a whole JSON object and was
    /// followed by a new record written after the restart.
    /// </summary>
    private static bool IsCutLine(string line, string[] lines, int index)
    {
        string trimmed = line.TrimEnd();
        return !trimmed.EndsWith('}') && index + 1 < lines.Length;
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace SimpleTransformer.Training.Checkpoints;

/// <summary>Everything besides weights and optimizer moments that a resumed run needs: <c>trainer_state.json</c>.</summary>
public sealed record TrainerState
{
    /// <summary>The file name inside a checkpoint directory.</summary>
    public const string FileName = "trainer_state.json";

    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }

    /// <summary>Training tokens consumed so far.</summary>
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }

    /// <summary>Lowest validation loss so far, or null before the first evaluation.</summary>
    [JsonPropertyName("best_validation_loss")] public double? BestValidationLoss { get; init; }

    /// <summary>Validation loss at this checkpoint, or null when it was not evaluated.</summary>
    [JsonPropertyName("validation_loss")] public double? ValidationLoss { get; init; }

    /// <summary>Training loss of the last step.</summary>
    [JsonPropertyName("train_loss")] public double TrainLoss { get; init; }

    /// <summary>The corpus file the run trains on.</summary>
    [JsonPropertyName("corpus")] public string Corpus { get; init; } = "";

    /// <summary>The training options of the run.</summary>
    [JsonPropertyName("training")] public TrainingOptions Training { get; init; } = new();

    /// <summary>Serializes the state as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Reads the state from a checkpoint directory; errors name the file.</summary>
    public static TrainerState Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new Inference.InvalidCheckpointException($"Trainer state not found: '{path}'. The checkpoint is incomplete; resume from another one.");
        }

        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path))
                ?? throw new Inference.InvalidCheckpointException($"Invalid trainer state '{path}': the file holds JSON null.");
        }
        catch (JsonException e)
        {
            throw new Inference.InvalidCheckpointException($"Invalid trainer state '{path}': {e.Message}", e);
        }
    }
}

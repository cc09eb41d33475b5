using System.Text.Json;
using System.Text.Json.Serialization;
using SimpleTransformer.Inference;

namespace SimpleTransformer.Training.Checkpoints;

/// <summary>Everything besides weights and optimizer moments that a resumed run needs: <c>trainer_state.json</c>.</summary>
public sealed record TrainerState
{
    /// <summary>The file name inside a checkpoint directory.</summary>
    public const string FileName = "trainer_state.json";

    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("step"), JsonRequired] public long Step { get; init; }

    /// <summary>Training tokens consumed so far.</summary>
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }

    /// <summary>Lowest validation loss so far, or null before the first evaluation.</summary>
    [JsonPropertyName("best_validation_loss")] public double? BestValidationLoss { get; init; }

    /// <summary>Validation loss at this checkpoint, or null when it was not evaluated.</summary>
    [JsonPropertyName("validation_loss")] public double? ValidationLoss { get; init; }

    /// <summary>Training loss of the last step.</summary>
    [JsonPropertyName("train_loss")] public double TrainLoss { get; init; }

    /// <summary>The corpus file the run trains on.</summary>
    [JsonPropertyName("corpus"), JsonRequired] public string Corpus { get; init; } = "";

    /// <summary>The training options of the run.</summary>
    [JsonPropertyName("training"), JsonRequired] public TrainingOptions Training { get; init; } = new();

    // Reading rejects unknown and repeated keys, so a damaged file cannot fall back to defaults silently.
    private static readonly JsonSerializerOptions ReadOptions = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    /// <summary>Serializes the state as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>
    /// Reads the state from a checkpoint directory. Throws <see cref="InvalidCheckpointException"/> naming the file
    /// when it is missing, is not valid JSON, lacks <c>step</c>, <c>corpus</c> or <c>training</c>, or has a
    /// negative count. The training options are checked against the model by <see cref="TrainingCheckpoint.Load"/>.
    /// </summary>
    public static TrainerState Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new InvalidCheckpointException($"Trainer state not found: '{path}'. The checkpoint is incomplete; resume from another one.");
        }

        TrainerState? state;
        try
        {
            state = JsonSerializer.Deserialize<TrainerState>(StrictJson.Parse(File.ReadAllBytes(path)), ReadOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidCheckpointException($"Invalid trainer state '{path}': {e.Message}", e);
        }

        if (state is null)
        {
            throw new InvalidCheckpointException($"Invalid trainer state '{path}': the file contains JSON null.");
        }

        string? problem = state switch
        {
            { Step: < 0 } => $"'step' is {state.Step}, expected zero or more",
            { TokensSeen: < 0 } => $"'tokens_seen' is {state.TokensSeen}, expected zero or more",
            { Corpus: null or "" } => "'corpus' is empty, expected the path of the training text",
            { Training: null } => "'training' is null, expected the training options object",
            _ => null,
        };
        if (problem is not null)
        {
            throw new InvalidCheckpointException($"Invalid trainer state '{path}': {problem}.");
        }

        return state;
    }
}

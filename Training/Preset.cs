using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Training;

/// <summary>
/// A preset file from <c>models/</c>: a <c>model</c> section (a <see cref="ModelConfig"/> whose
/// <c>vocab_size</c> comes from the tokenizer) and a <c>training</c> section (<see cref="TrainingOptions"/>).
/// </summary>
public sealed record Preset(JsonObject Model, TrainingOptions Training)
{
    // A misspelt training key would otherwise be ignored and its default used silently.
    private static readonly JsonSerializerOptions TrainingReadOptions = new() { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>Reads a preset file; errors name the file and the field.</summary>
    public static Preset Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Preset not found: '{path}'. The bundled presets are in models/ (for example models/quick.json).", path);
        }

        try
        {
            var root = StrictJson.Parse(File.ReadAllBytes(path)) as JsonObject
                ?? throw new InvalidDataException($"Invalid preset '{path}': expected a JSON object with 'model' and 'training'.");
            var model = root["model"] as JsonObject
                ?? throw new InvalidDataException($"Invalid preset '{path}': the 'model' object is missing.");
            return new Preset(model, ReadTraining(root["training"], path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Invalid preset '{path}': {e.Message}", e);
        }
    }

    /// <summary>Builds the validated model configuration for a tokenizer of <paramref name="vocabSize"/> ids.</summary>
    public ModelConfig ModelConfigFor(int vocabSize)
    {
        var model = (JsonObject)Model.DeepClone();
        model["vocab_size"] = vocabSize;
        return ModelConfig.FromJson(model.ToJsonString(), "preset 'model' section");
    }

    private static TrainingOptions ReadTraining(JsonNode? section, string path)
    {
        try
        {
            return section?.Deserialize<TrainingOptions>(TrainingReadOptions) ?? new TrainingOptions();
        }
        catch (JsonException e)
        {
            // The JSON path names the key within the section, for example "$.data_mode".
            string key = e.Path is { Length: > 2 } jsonPath ? $" at 'training.{jsonPath[2..]}'" : " in the 'training' section";
            throw new InvalidDataException($"Invalid preset '{path}'{key}: {e.Message}", e);
        }
    }
}

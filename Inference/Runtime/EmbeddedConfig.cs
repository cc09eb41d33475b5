using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// Compares <c>config.json</c> with the configuration the exporter embeds in <c>model.onnx</c> under the metadata
/// key <c>config</c>. A model without that key passes, because the graph's interface is checked separately.
/// </summary>
internal static class EmbeddedConfig
{
    /// <summary>The metadata key of the configuration JSON in an exported graph.</summary>
    public const string MetadataKey = "config";

    /// <summary>Throws <see cref="InvalidModelException"/> naming the first key whose values differ.</summary>
    public static void Check(InferenceSession session, ModelConfig config, string modelPath, string configPath)
    {
        if (!session.ModelMetadata.CustomMetadataMap.TryGetValue(MetadataKey, out string? json))
        {
            return;
        }

        ModelConfig embedded;
        try
        {
            embedded = ModelConfig.FromJson(json, $"{modelPath} (metadata '{MetadataKey}')");
        }
        catch (InvalidModelConfigException e)
        {
            throw new InvalidModelException($"{e.Message} Export the checkpoint again.", e);
        }

        if (embedded == config)
        {
            return;
        }

        var expected = JsonNode.Parse(config.ToJson())!.AsObject();
        var actual = JsonNode.Parse(embedded.ToJson())!.AsObject();
        var differences = expected
            .Where(pair => !JsonNode.DeepEquals(pair.Value, actual[pair.Key]))
            .Select(pair => $"'{pair.Key}' is {actual[pair.Key]?.ToJsonString() ?? "null"} in the model and {pair.Value?.ToJsonString() ?? "null"} in config.json");
        throw new InvalidModelException(
            $"'{configPath}' does not match the configuration embedded in '{modelPath}': {string.Join("; ", differences)}. " +
            "Use the config.json exported with this model.onnx.");
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Export;

/// <summary>
/// Writes <c>genai_config.json</c>, the file with which ONNX Runtime GenAI (checked with Microsoft.ML.OnnxRuntimeGenAI
/// 0.20.0) loads an exported model directory: the decoder's file name, input and output names, head and layer
/// counts, special token ids and greedy search settings. Field names follow GenAI's <c>src/config.h</c>.
/// </summary>
public static class GenAiConfig
{
    /// <summary>The file name GenAI looks for in a model directory.</summary>
    public const string FileName = "genai_config.json";

    /// <summary>
    /// GenAI's model type for a decoder-only model that it drives through the names given in the file alone, without
    /// model-specific handling.
    /// </summary>
    public const string ModelType = "decoder";

    /// <summary>
    /// Returns the JSON text for <paramref name="config"/>, with the end-of-sequence and padding ids of the model's
    /// tokenizer. Keys are written in a fixed order, so the same arguments give the same bytes.
    /// </summary>
    public static string ToJson(ModelConfig config, int eosTokenId, int padTokenId)
    {
        ArgumentNullException.ThrowIfNull(config);
        var decoder = new JsonObject
        {
            ["filename"] = OnnxExporter.ModelFileName,
            ["session_options"] = new JsonObject
            {
                ["log_id"] = "onnxruntime-genai",
                ["provider_options"] = new JsonArray(),
            },
            ["head_size"] = config.HeadSize,
            ["hidden_size"] = config.HiddenSize,
            ["num_attention_heads"] = config.NumHeads,
            ["num_key_value_heads"] = config.NumHeads,
            ["num_hidden_layers"] = config.NumLayers,
            ["inputs"] = new JsonObject
            {
                ["input_ids"] = "input_ids",
                ["attention_mask"] = "attention_mask",
                ["position_ids"] = "position_ids",
                ["past_key_names"] = "past_key_values.%d.key",
                ["past_value_names"] = "past_key_values.%d.value",
            },
            ["outputs"] = new JsonObject
            {
                ["logits"] = "logits",
                ["present_key_names"] = "present.%d.key",
                ["present_value_names"] = "present.%d.value",
            },
        };

        // past_present_share_buffer stays false: with it, GenAI passes one max_length cache as both past and present,
        // which needs an attention operator that writes into its past buffer (GroupQueryAttention). This graph
        // returns present = Concat(past, new) of length S instead.
        var root = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["type"] = ModelType,
                ["context_length"] = config.MaxPositions,
                ["vocab_size"] = config.VocabSize,
                ["eos_token_id"] = eosTokenId,
                ["pad_token_id"] = padTokenId,
                ["decoder"] = decoder,
            },
            ["search"] = new JsonObject
            {
                ["do_sample"] = false,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                ["min_length"] = 0,
                ["max_length"] = config.MaxPositions,
                ["past_present_share_buffer"] = false,
                ["repetition_penalty"] = 1.0,
                ["temperature"] = 1.0,
                ["top_k"] = 0,
                ["top_p"] = 1.0,
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace SimpleTransformer.Inference.Models;

/// <summary>How the model learns where each token sits.</summary>
[JsonConverter(typeof(JsonEnumNameConverter<PositionEmbedding>))]
public enum PositionEmbedding
{
    /// <summary>A trained table added to the token embeddings (GPT-2).</summary>
    [JsonStringEnumMemberName("learned")] Learned,

    /// <summary>A fixed sine and cosine table added to the token embeddings (original Transformer).</summary>
    [JsonStringEnumMemberName("sinusoidal")] Sinusoidal,

    /// <summary>Rotary position embedding applied to queries and keys (RoPE, half-split pairs).</summary>
    [JsonStringEnumMemberName("rotary")] Rotary,

    /// <summary>A fixed per-head linear bias on attention scores by query-key distance (ALiBi).</summary>
    [JsonStringEnumMemberName("alibi")] Alibi,
}

/// <summary>Where each LayerNorm sits relative to its residual connection.</summary>
[JsonConverter(typeof(JsonEnumNameConverter<NormPosition>))]
public enum NormPosition
{
    /// <summary>LayerNorm before each sublayer, inside the residual branch (GPT-2).</summary>
    [JsonStringEnumMemberName("pre")] Pre,

    /// <summary>LayerNorm after each residual addition (original Transformer).</summary>
    [JsonStringEnumMemberName("post")] Post,
}

/// <summary>The feed-forward activation function.</summary>
[JsonConverter(typeof(JsonEnumNameConverter<Activation>))]
public enum Activation
{
    /// <summary>Exact GELU, <c>x · Φ(x)</c> with the error function.</summary>
    [JsonStringEnumMemberName("gelu")] Gelu,

    /// <summary>GELU with the tanh approximation used by GPT-2.</summary>
    [JsonStringEnumMemberName("gelu_tanh")] GeluTanh,

    /// <summary>Rectified linear unit.</summary>
    [JsonStringEnumMemberName("relu")] Relu,
}

/// <summary>
/// The architecture of one model: the single source of truth written into every checkpoint
/// (<c>config.json</c>) and every exported ONNX model. JSON keys follow Hugging Face <c>config.json</c> names.
/// The constructor validates every field, so an instance always describes a buildable model.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The file name of the configuration inside checkpoint and model directories.</summary>
    public const string FileName = "config.json";

    /// <summary>Vocabulary size, V.</summary>
    [JsonPropertyName("vocab_size"), JsonRequired] public int VocabSize { get; init; }

    /// <summary>Hidden size, C.</summary>
    [JsonPropertyName("hidden_size"), JsonRequired] public int HiddenSize { get; init; }

    /// <summary>Number of transformer layers.</summary>
    [JsonPropertyName("num_hidden_layers"), JsonRequired] public int NumLayers { get; init; }

    /// <summary>Number of attention heads, H. Must divide <see cref="HiddenSize"/>.</summary>
    [JsonPropertyName("num_attention_heads"), JsonRequired] public int NumHeads { get; init; }

    /// <summary>Feed-forward intermediate size, I.</summary>
    [JsonPropertyName("intermediate_size"), JsonRequired] public int IntermediateSize { get; init; }

    /// <summary>Context length: the most tokens, past and new together, that one sequence may hold.</summary>
    [JsonPropertyName("max_position_embeddings"), JsonRequired] public int MaxPositions { get; init; }

    /// <summary>Positional scheme.</summary>
    [JsonPropertyName("position_embedding")] public PositionEmbedding PositionEmbedding { get; init; } = PositionEmbedding.Learned;

    /// <summary>LayerNorm placement.</summary>
    [JsonPropertyName("norm_position")] public NormPosition NormPosition { get; init; } = NormPosition.Pre;

    /// <summary>Feed-forward activation.</summary>
    [JsonPropertyName("hidden_act")] public Activation Activation { get; init; } = Activation.Gelu;

    /// <summary>When set, each query attends only the last <c>SlidingWindow</c> keys, itself included.</summary>
    [JsonPropertyName("sliding_window")] public int? SlidingWindow { get; init; }

    /// <summary>LayerNorm epsilon.</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;

    /// <summary>Rotary base frequency; used only with <see cref="PositionEmbedding.Rotary"/>.</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;

    /// <summary>Whether the output projection shares <c>token_embedding.weight</c>.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }

    /// <summary>Dropout probability on embeddings and on each sublayer's output.</summary>
    [JsonPropertyName("hidden_dropout")] public double HiddenDropout { get; init; }

    /// <summary>Dropout probability on attention weights.</summary>
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }

    /// <summary>Head size, D = C / H.</summary>
    [JsonIgnore] public int HeadSize => HiddenSize / NumHeads;

    // Reading rejects unknown keys (a misspelt optional key would otherwise fall back to its default silently)
    // and duplicate keys (which would otherwise let the last one win).
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    /// <summary>
    /// Checks every field and throws <see cref="InvalidModelConfigException"/> naming the first invalid one.
    /// Records built with <c>with</c> expressions must be validated again by calling this method.
    /// </summary>
    public ModelConfig Validate()
    {
        Require(VocabSize >= 1, "vocab_size", VocabSize, "a positive integer");
        Require(HiddenSize >= 1, "hidden_size", HiddenSize, "a positive integer");
        Require(NumLayers >= 1, "num_hidden_layers", NumLayers, "a positive integer");
        Require(NumHeads >= 1, "num_attention_heads", NumHeads, "a positive integer");
        Require(HiddenSize % NumHeads == 0, "num_attention_heads", NumHeads,
            $"a divisor of hidden_size ({HiddenSize})");
        Require(IntermediateSize >= 1, "intermediate_size", IntermediateSize, "a positive integer");
        Require(MaxPositions >= 1, "max_position_embeddings", MaxPositions, "a positive integer");
        Require(Enum.IsDefined(PositionEmbedding), "position_embedding", PositionEmbedding,
            "one of learned, sinusoidal, rotary, alibi");
        Require(Enum.IsDefined(NormPosition), "norm_position", NormPosition, "pre or post");
        Require(Enum.IsDefined(Activation), "hidden_act", Activation, "one of gelu, gelu_tanh, relu");
        Require(SlidingWindow is null or >= 1, "sliding_window", SlidingWindow, "null or a positive integer");
        Require(LayerNormEps > 0 && double.IsFinite(LayerNormEps), "layer_norm_eps", LayerNormEps, "a positive number");
        Require(RopeTheta > 0 && double.IsFinite(RopeTheta), "rope_theta", RopeTheta, "a positive number");
        Require(PositionEmbedding != PositionEmbedding.Rotary || HeadSize % 2 == 0, "hidden_size", HiddenSize,
            "a multiple of 2 · num_attention_heads, because rotary embedding rotates pairs of head dimensions");
        Require(PositionEmbedding != PositionEmbedding.Sinusoidal || HiddenSize % 2 == 0, "hidden_size", HiddenSize,
            "even, because the sinusoidal table interleaves sine and cosine columns");
        Require(HiddenDropout is >= 0 and < 1, "hidden_dropout", HiddenDropout, "in [0, 1)");
        Require(AttentionDropout is >= 0 and < 1, "attention_dropout", AttentionDropout, "in [0, 1)");
        RequireArraySize("vocab_size", VocabSize, "hidden_size", HiddenSize);
        RequireArraySize("max_position_embeddings", MaxPositions, "hidden_size", HiddenSize);
        RequireArraySize("intermediate_size", IntermediateSize, "hidden_size", HiddenSize);
        RequireArraySize("hidden_size", HiddenSize, "hidden_size", HiddenSize);
        return this;
    }

    // Weights and position tables are stored in one float[] each (NamedTensor), so no tensor may have more
    // elements than the maximum managed array length.
    private static void RequireArraySize(string rowsKey, int rows, string columnsKey, int columns)
    {
        long elements = (long)rows * columns;
        if (elements > Array.MaxLength)
        {
            throw new InvalidModelConfigException(
                $"Invalid model configuration: {rowsKey} × {columnsKey} = {rows} × {columns} = {elements} elements in one tensor, more than the maximum array length {Array.MaxLength}. Lower {rowsKey}.");
        }
    }

    private static void Require(bool condition, string key, object? value, string expected)
    {
        if (!condition)
        {
            throw new InvalidModelConfigException(
                $"Invalid model configuration: '{key}' is {value?.ToString() ?? "null"}, expected {expected}.");
        }
    }

    /// <summary>Serializes the configuration as indented JSON with Hugging Face style keys.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>
    /// Parses and validates a configuration; <paramref name="source"/> names the origin in errors. The keys
    /// <c>vocab_size</c>, <c>hidden_size</c>, <c>num_hidden_layers</c>, <c>num_attention_heads</c>,
    /// <c>intermediate_size</c> and <c>max_position_embeddings</c> are required, the others default. Unknown or
    /// repeated keys and enum values other than the documented strings are rejected. Every failure is an
    /// <see cref="InvalidModelConfigException"/>.
    /// </summary>
    public static ModelConfig FromJson(string json, string source = "config.json")
    {
        ModelConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(StrictJson.ToUtf8(json), JsonOptions);
        }
        catch (JsonException e)
        {
            // Messages of the enum converter carry no JSON path, so the path stored in the exception is appended.
            string at = e.Path is { Length: > 0 } path && !e.Message.Contains(path, StringComparison.Ordinal) ? $" (at {path})" : "";
            throw new InvalidModelConfigException($"Invalid model configuration in '{source}': {e.Message}{at}", e);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json raises this for a string it cannot decode, such as an escaped unpaired surrogate.
            throw new InvalidModelConfigException($"Invalid model configuration in '{source}': {e.Message}", e);
        }

        if (config is null)
        {
            throw new InvalidModelConfigException($"Invalid model configuration in '{source}': the file contains JSON null instead of an object.");
        }

        try
        {
            return config.Validate();
        }
        catch (InvalidModelConfigException e)
        {
            throw new InvalidModelConfigException($"{e.Message} (in '{source}')", e);
        }
    }

    /// <summary>Reads and validates <c>config.json</c> from a checkpoint or model directory.</summary>
    public static ModelConfig Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"Model configuration not found: '{path}'. Pass a checkpoint or exported model directory.", path);
        }

        return FromJson(File.ReadAllText(path), path);
    }
}

/// <summary>Thrown when a model configuration has a missing, malformed or out-of-range field.</summary>
public sealed class InvalidModelConfigException : Exception
{
    /// <summary>Creates the exception with a message that names the field and the expected value.</summary>
    public InvalidModelConfigException(string message, Exception? inner = null) : base(message, inner) { }
}

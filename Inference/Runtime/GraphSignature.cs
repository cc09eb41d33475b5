using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// The input and output names of an exported graph, and the check that a loaded session has exactly them
/// with the shapes <c>config.json</c> implies:
/// inputs <c>input_ids</c>, <c>attention_mask</c>, <c>position_ids</c> (int64 [B, T], [B, S], [B, T]) and
/// <c>past_key_values.{i}.key</c> / <c>.value</c> (float32 [B, H, P, D]), and outputs <c>logits</c> (float32 [B, T, V])
/// and <c>present.{i}.key</c> / <c>.value</c> (float32 [B, H, S, D]). A half-precision export has a float16 cache.
/// </summary>
internal sealed partial class GraphSignature
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string PositionIds = "position_ids";
    public const string Logits = "logits";

    public GraphSignature(int layers)
    {
        PastKeys = [.. Enumerable.Range(0, layers).Select(i => $"past_key_values.{i}.key")];
        PastValues = [.. Enumerable.Range(0, layers).Select(i => $"past_key_values.{i}.value")];
        PresentKeys = [.. Enumerable.Range(0, layers).Select(i => $"present.{i}.key")];
        PresentValues = [.. Enumerable.Range(0, layers).Select(i => $"present.{i}.value")];
    }

    public string[] PastKeys { get; }

    public string[] PastValues { get; }

    public string[] PresentKeys { get; }

    public string[] PresentValues { get; }

    /// <summary>The element type of every past and present tensor: float32, or float16 for a half-precision export.</summary>
    public TensorElementType CacheElementType { get; private init; } = TensorElementType.Float;

    [GeneratedRegex(@"^past_key_values\.(\d+)\.(key|value)$")]
    private static partial Regex PastPattern();

    /// <summary>
    /// Throws <see cref="InvalidModelException"/> naming <paramref name="modelPath"/> and every mismatch between
    /// the session's inputs and outputs and <paramref name="config"/>.
    /// </summary>
    public static GraphSignature Check(InferenceSession session, ModelConfig config, string modelPath)
    {
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;

        int graphLayers = inputs.Keys
            .Select(name => PastPattern().Match(name))
            .Where(match => match.Success)
            .Select(match => int.Parse(match.Groups[1].Value) + 1)
            .DefaultIfEmpty(0)
            .Max();
        if (graphLayers != config.NumLayers)
        {
            throw new InvalidModelException(
                $"'{modelPath}' has past_key_values inputs for {graphLayers} layers, but config.json has num_hidden_layers {config.NumLayers}. " +
                "Use the config.json exported with this model.onnx, or export the checkpoint again.");
        }

        // The cache may be float16 (a half-precision export); every cache tensor must then have that type.
        bool halfCache = inputs.TryGetValue("past_key_values.0.key", out var firstPast) && firstPast.IsTensor
            && firstPast.ElementDataType == TensorElementType.Float16;
        var signature = new GraphSignature(config.NumLayers) { CacheElementType = halfCache ? TensorElementType.Float16 : TensorElementType.Float };
        var cacheType = signature.CacheElementType;
        long h = config.NumHeads, d = config.HeadSize, v = config.VocabSize;
        var problems = new List<string>();

        var expectedInputs = new List<(string Name, TensorElementType Type, long[] Dims)>
        {
            (InputIds, TensorElementType.Int64, [-1, -1]),
            (AttentionMask, TensorElementType.Int64, [-1, -1]),
            (PositionIds, TensorElementType.Int64, [-1, -1]),
        };
        expectedInputs.AddRange(signature.PastKeys.Concat(signature.PastValues).Select(n => (n, cacheType, new long[] { -1, h, -1, d })));
        CheckSide("input", inputs, expectedInputs, problems, rejectExtra: true);

        var expectedOutputs = new List<(string Name, TensorElementType Type, long[] Dims)> { (Logits, TensorElementType.Float, [-1, -1, v]) };
        expectedOutputs.AddRange(signature.PresentKeys.Concat(signature.PresentValues).Select(n => (n, cacheType, new long[] { -1, h, -1, d })));
        CheckSide("output", outputs, expectedOutputs, problems, rejectExtra: false);

        if (problems.Count > 0)
        {
            throw new InvalidModelException(
                $"'{modelPath}' does not match config.json (num_hidden_layers {config.NumLayers}, num_attention_heads {h}, head size {d}, vocab_size {v}): " +
                $"{string.Join("; ", problems)}. Use the config.json exported with this model.onnx, or export the checkpoint again.");
        }

        return signature;
    }

    // A dimension of -1 in `expected` accepts any size, and a symbolic dimension in the graph (-1) matches any expected size.
    private static void CheckSide(
        string side,
        IReadOnlyDictionary<string, NodeMetadata> actual,
        List<(string Name, TensorElementType Type, long[] Dims)> expected,
        List<string> problems,
        bool rejectExtra)
    {
        foreach (var (name, type, dims) in expected)
        {
            if (!actual.TryGetValue(name, out var metadata))
            {
                problems.Add($"{side} '{name}' is missing");
                continue;
            }

            if (!metadata.IsTensor || metadata.ElementDataType != type)
            {
                problems.Add($"{side} '{name}' has element type {metadata.ElementDataType}, expected {type}");
                continue;
            }

            int[] graphDims = metadata.Dimensions;
            bool shapeMatches = graphDims.Length == dims.Length
                && graphDims.Zip(dims).All(pair => pair.Second < 0 || pair.First < 0 || pair.First == pair.Second);
            if (!shapeMatches)
            {
                problems.Add($"{side} '{name}' has shape {FormatDims(graphDims, metadata.SymbolicDimensions)}, expected {FormatDims(dims)}");
            }
        }

        if (rejectExtra)
        {
            var names = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            problems.AddRange(actual.Keys.Where(k => !names.Contains(k)).Order(StringComparer.Ordinal)
                .Select(k => $"{side} '{k}' is not part of the exported graph's interface"));
        }
    }

    private static string FormatDims(long[] dims) =>
        "[" + string.Join(", ", dims.Select(d => d < 0 ? "?" : d.ToString())) + "]";

    private static string FormatDims(int[] dims, string[] symbols)
    {
        var parts = new string[dims.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] >= 0)
            {
                parts[i] = dims[i].ToString();
            }
            else
            {
                parts[i] = i < symbols.Length && symbols[i].Length > 0 ? symbols[i] : "?";
            }
        }

        return "[" + string.Join(", ", parts) + "]";
    }
}

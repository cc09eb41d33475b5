// Shape letters: B batch, T new tokens, P past length, S = P + T, H heads, D head size, V vocabulary size.

using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// One layer's cached keys and values, each [B, H, length, D], row-major, widened to float32. For a float16 model
/// the values are exactly the float16 values the graph returned, so feeding them back loses nothing.
/// </summary>
internal sealed record LayerCache(float[] Keys, float[] Values, long Length);

/// <summary>The outputs of one call: logits [B, T, V] and the updated cache of every layer.</summary>
internal sealed record StepResult(float[] Logits, long[] LogitsShape, LayerCache[] Present)
{
    /// <summary>The V logits of batch row <paramref name="row"/> at new-token index <paramref name="token"/>.</summary>
    public float[] LogitsAt(int row, int token)
    {
        long tokens = LogitsShape[1], vocab = LogitsShape[2];
        return Logits.AsSpan((int)((row * tokens + token) * vocab), (int)vocab).ToArray();
    }
}

/// <summary>
/// Runs an exported model with ONNX Runtime on the CPU, one thread, so results repeat exactly. Float32 and float16
/// models both take and return the cache as float32 arrays; the runner converts at the session boundary.
/// </summary>
internal sealed class OnnxModelRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly ModelConfig _config;
    private readonly bool _float16Cache;

    public OnnxModelRunner(string modelDirectory)
    {
        _config = ModelConfig.Load(modelDirectory);
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        _session = new InferenceSession(Path.Combine(modelDirectory, "model.onnx"), options);
        _float16Cache = _session.InputMetadata["past_key_values.0.key"].ElementDataType == TensorElementType.Float16;
    }

    public InferenceSession Session => _session;

    /// <summary>
    /// Runs one call. <paramref name="inputIds"/> and <paramref name="positionIds"/> are [B][T],
    /// <paramref name="attentionMask"/> is [B][S]; <paramref name="past"/> null means an empty cache (P = 0).
    /// </summary>
    public StepResult Run(long[][] inputIds, long[][] attentionMask, long[][] positionIds, LayerCache[]? past = null)
    {
        int batch = inputIds.Length;
        long heads = _config.NumHeads, headSize = _config.HeadSize;
        long pastLength = past?[0].Length ?? 0;
        var inputs = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        try
        {
            inputs["input_ids"] = Matrix(inputIds);
            inputs["attention_mask"] = Matrix(attentionMask);
            inputs["position_ids"] = Matrix(positionIds);
            for (int layer = 0; layer < _config.NumLayers; layer++)
            {
                long[] shape = [batch, heads, pastLength, headSize];
                inputs[$"past_key_values.{layer}.key"] = CacheTensor(past?[layer].Keys ?? [], shape);
                inputs[$"past_key_values.{layer}.value"] = CacheTensor(past?[layer].Values ?? [], shape);
            }

            var outputNames = new List<string> { "logits" };
            for (int layer = 0; layer < _config.NumLayers; layer++)
            {
                outputNames.Add($"present.{layer}.key");
                outputNames.Add($"present.{layer}.value");
            }

            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, inputs, outputNames);
            var logits = outputs[0];
            var present = new LayerCache[_config.NumLayers];
            for (int layer = 0; layer < _config.NumLayers; layer++)
            {
                var keys = outputs[1 + 2 * layer];
                var values = outputs[2 + 2 * layer];
                present[layer] = new LayerCache(ReadFloats(keys), ReadFloats(values), keys.GetTensorTypeAndShape().Shape[2]);
                Assert.AreEqual(_float16Cache ? TensorElementType.Float16 : TensorElementType.Float, keys.GetTensorTypeAndShape().ElementDataType,
                    $"present.{layer}.key has the element type of past_key_values.{layer}.key");
                CollectionAssert.AreEqual(new[] { batch, heads, pastLength + inputIds[0].Length, headSize },
                    keys.GetTensorTypeAndShape().Shape, $"shape of present.{layer}.key");
                CollectionAssert.AreEqual(keys.GetTensorTypeAndShape().Shape, values.GetTensorTypeAndShape().Shape,
                    $"shape of present.{layer}.value");
            }

            Assert.AreEqual(TensorElementType.Float, logits.GetTensorTypeAndShape().ElementDataType, "logits are float32 at every precision");
            return new StepResult(logits.GetTensorDataAsSpan<float>().ToArray(), logits.GetTensorTypeAndShape().Shape, present);
        }
        finally
        {
            foreach (var value in inputs.Values)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>Runs one unpadded sequence per row in a single call (P = 0), positions 0..T-1.</summary>
    public StepResult RunFull(long[][] tokens) =>
        Run(tokens, Ones(tokens.Length, tokens[0].Length), [.. tokens.Select(row => Enumerable.Range(0, row.Length).Select(p => (long)p).ToArray())]);

    public static long[][] Ones(int batch, int length) =>
        [.. Enumerable.Range(0, batch).Select(_ => Enumerable.Repeat(1L, length).ToArray())];

    private OrtValue CacheTensor(float[] data, long[] shape) => _float16Cache
        ? OrtValue.CreateTensorValueFromMemory(data.Select(v => (Float16)v).ToArray(), shape)
        : OrtValue.CreateTensorValueFromMemory(data, shape);

    private static float[] ReadFloats(OrtValue value) =>
        value.GetTensorTypeAndShape().ElementDataType == TensorElementType.Float16
            ? [.. value.GetTensorDataAsSpan<Float16>().ToArray().Select(h => (float)h)]
            : value.GetTensorDataAsSpan<float>().ToArray();

    private static OrtValue Matrix(long[][] rows)
    {
        int columns = rows[0].Length;
        var data = rows.SelectMany(row =>
        {
            Assert.HasCount(columns, row, "every row of an input batch must have the same length");
            return row;
        }).ToArray();
        return OrtValue.CreateTensorValueFromMemory(data, [rows.Length, columns]);
    }

    public void Dispose() => _session.Dispose();
}

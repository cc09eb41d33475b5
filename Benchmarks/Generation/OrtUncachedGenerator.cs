// Dimension letters: B batch, S tokens so far, H heads, D head size, V vocabulary.
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SimpleTransformer.Benchmarks.Models;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Benchmarks.Generation;

/// <summary>
/// ONNX Runtime without a cache: every token runs the exported graph over the whole sequence with an empty past
/// (P = 0) and reads only the logits of the last position, the way a model without cache inputs is used.
/// </summary>
public sealed class OrtUncachedGenerator : IGenerator
{
    private readonly InferenceSession _session;
    private readonly ModelConfig _config;
    private readonly string[] _inputNames;

    /// <summary>Creates a session for <c>model.onnx</c> in <paramref name="modelDirectory"/> with the library's default optimization level.</summary>
    public OrtUncachedGenerator(string modelDirectory, ModelConfig config, int threads)
    {
        _config = config;
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads };
        _session = new InferenceSession(Path.Combine(modelDirectory, "model.onnx"), options);
        _inputNames = [
            "input_ids", "attention_mask", "position_ids",
            .. Enumerable.Range(0, config.NumLayers).SelectMany(i => new[] { $"past_key_values.{i}.key", $"past_key_values.{i}.value" }),
        ];
    }

    /// <inheritdoc/>
    public string Name => "ONNX Runtime, no cache";

    /// <inheritdoc/>
    public double Generate(PromptSet prompts, int newTokens)
    {
        var stopwatch = Stopwatch.StartNew();
        int batch = prompts.Batch;
        var sequences = prompts.Ids.Select(p => p.Select(id => (long)id).ToList()).ToArray();
        for (int step = 0; step < newTokens; step++)
        {
            int length = sequences[0].Count;
            var ids = new long[batch * length];
            var positions = new long[batch * length];
            var mask = new long[batch * length];
            for (int row = 0; row < batch; row++)
            {
                for (int t = 0; t < length; t++)
                {
                    ids[row * length + t] = sequences[row][t];
                    positions[row * length + t] = t;
                    mask[row * length + t] = 1;
                }
            }

            long[] tokenShape = [batch, length];
            var inputs = new List<OrtValue>
            {
                OrtValue.CreateTensorValueFromMemory(ids, tokenShape),
                OrtValue.CreateTensorValueFromMemory(mask, tokenShape),
                OrtValue.CreateTensorValueFromMemory(positions, tokenShape),
            };
            for (int i = 0; i < 2 * _config.NumLayers; i++)
            {
                inputs.Add(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [batch, _config.NumHeads, 0, _config.HeadSize])); // [B, H, 0, D]
            }

            try
            {
                using var runOptions = new RunOptions();
                using var outputs = _session.Run(runOptions, _inputNames, inputs, ["logits"]);
                var logits = outputs[0].GetTensorDataAsSpan<float>();                                        // [B, S, V]
                int vocabulary = _config.VocabSize;
                for (int row = 0; row < batch; row++)
                {
                    sequences[row].Add(ArgMax(logits.Slice((row * length + length - 1) * vocabulary, vocabulary)));
                }
            }
            finally
            {
                foreach (var value in inputs)
                {
                    value.Dispose();
                }
            }
        }

        return stopwatch.Elapsed.TotalSeconds;
    }

    /// <inheritdoc/>
    public void Dispose() => _session.Dispose();

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}

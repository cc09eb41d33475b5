using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Parity.Tests.Inference;

/// <summary>
/// Runs an exported graph the simplest way: the whole sequence in one call with an empty cache (P = 0), through
/// <see cref="InferenceSession.Run(RunOptions, IReadOnlyDictionary{string, OrtValue}, IReadOnlyCollection{string})"/>.
/// Generation with the cache must give the same logits.
/// </summary>
internal sealed class UncachedReference : IDisposable
{
    private readonly InferenceSession _session;
    private readonly ModelConfig _config;

    public UncachedReference(string modelDirectory)
    {
        _session = new InferenceSession(Path.Combine(modelDirectory, TransformerModel.ModelFileName));
        _config = ModelConfig.Load(modelDirectory);
    }

    /// <summary>Returns the logits [V] of the last position of <paramref name="ids"/>.</summary>
    public float[] LastLogits(IReadOnlyList<int> ids)
    {
        int length = ids.Count;
        long[] tokenShape = [1, length];
        long[] pastShape = [1, _config.NumHeads, 0, _config.HeadSize];
        var values = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(ids.Select(id => (long)id).ToArray(), tokenShape),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, length).ToArray(), tokenShape),
            ["position_ids"] = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, length).Select(p => (long)p).ToArray(), tokenShape),
        };
        bool halfCache = _session.InputMetadata["past_key_values.0.key"].ElementDataType == TensorElementType.Float16;
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            values[$"past_key_values.{layer}.key"] = EmptyPast(pastShape, halfCache);
            values[$"past_key_values.{layer}.value"] = EmptyPast(pastShape, halfCache);
        }

        try
        {
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, values, ["logits"]);
            ReadOnlySpan<float> logits = outputs[0].GetTensorDataAsSpan<float>();
            return logits[((length - 1) * _config.VocabSize)..].ToArray();
        }
        finally
        {
            foreach (var value in values.Values)
            {
                value.Dispose();
            }
        }
    }

    private static OrtValue EmptyPast(long[] shape, bool half) => half
        ? OrtValue.CreateTensorValueFromMemory(Array.Empty<Float16>(), shape)
        : OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), shape);

    /// <summary>Greedy decoding without a cache: recomputes the whole sequence for every new token.</summary>
    public List<int> Greedy(int[] prompt, int newTokens, int eosId, float repetitionPenalty = 1f)
    {
        var sequence = new List<int>(prompt);
        var generated = new List<int>();
        for (int step = 0; step < newTokens; step++)
        {
            float[] logits = LastLogits(sequence);
            TokenSampler.ApplyRepetitionPenalty(logits, [.. sequence.Distinct()], repetitionPenalty);
            int next = TokenSampler.ArgMax(logits);
            if (next == eosId)
            {
                break;
            }

            generated.Add(next);
            sequence.Add(next);
        }

        return generated;
    }

    public void Dispose() => _session.Dispose();
}

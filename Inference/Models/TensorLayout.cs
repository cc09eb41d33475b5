using System.Globalization;

namespace SimpleTransformer.Inference.Models;

/// <summary>
/// The names and shapes of every stored tensor of a model, in a fixed order. The same names are used by
/// the TorchSharp modules, the safetensors checkpoint and the ONNX initializers.
/// </summary>
public static class TensorLayout
{
    /// <summary>Name of layer <paramref name="layer"/>'s tensor <paramref name="suffix"/>, e.g. <c>layers.3.attn.q_proj.weight</c>.</summary>
    public static string Layer(int layer, string suffix) => $"layers.{layer}.{suffix}";

    /// <summary>Lists every tensor the checkpoint of <paramref name="config"/> stores, with its shape.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Expected(ModelConfig config)
    {
        long v = config.VocabSize, c = config.HiddenSize, i = config.IntermediateSize;
        var list = new List<(string, long[])> { ("token_embedding.weight", [v, c]) };
        if (config.PositionEmbedding == PositionEmbedding.Learned)
        {
            list.Add(("position_embedding.weight", [config.MaxPositions, c]));
        }

        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            list.Add((Layer(layer, "attn_norm.weight"), [c]));
            list.Add((Layer(layer, "attn_norm.bias"), [c]));
            foreach (string projection in new[] { "q_proj", "k_proj", "v_proj", "o_proj" })
            {
                list.Add((Layer(layer, $"attn.{projection}.weight"), [c, c]));
                list.Add((Layer(layer, $"attn.{projection}.bias"), [c]));
            }

            list.Add((Layer(layer, "mlp_norm.weight"), [c]));
            list.Add((Layer(layer, "mlp_norm.bias"), [c]));
            list.Add((Layer(layer, "mlp.fc_in.weight"), [i, c]));
            list.Add((Layer(layer, "mlp.fc_in.bias"), [i]));
            list.Add((Layer(layer, "mlp.fc_out.weight"), [c, i]));
            list.Add((Layer(layer, "mlp.fc_out.bias"), [c]));
        }

        list.Add(("final_norm.weight", [c]));
        list.Add(("final_norm.bias", [c]));
        if (!config.TieWordEmbeddings)
        {
            list.Add(("lm_head.weight", [v, c]));
        }

        return list;
    }

    /// <summary>Returns how many tensors the checkpoint of <paramref name="config"/> stores, without listing them.</summary>
    public static long ExpectedCount(ModelConfig config) =>
        1 + (config.PositionEmbedding == PositionEmbedding.Learned ? 1 : 0) + 16L * config.NumLayers + 2 + (config.TieWordEmbeddings ? 0 : 1);

    /// <summary>
    /// Checks that <paramref name="tensors"/> contains exactly the tensors of <paramref name="config"/> with the
    /// right shapes, and throws <see cref="InvalidCheckpointException"/> naming every missing, extra or
    /// misshapen tensor otherwise.
    /// </summary>
    public static void Check(ModelConfig config, IReadOnlyDictionary<string, NamedTensor> tensors, string source)
    {
        var problems = new List<string>();
        long expectedCount = ExpectedCount(config);
        if (expectedCount != tensors.Count)
        {
            problems.Add($"config.json describes {expectedCount} tensors but the weights file contains {tensors.Count}");
        }

        // A damaged num_hidden_layers can describe millions of tensors; list names only when the counts are close.
        if (expectedCount <= 4L * tensors.Count + 64)
        {
            problems.AddRange(NameAndShapeProblems(config, tensors));
        }

        if (problems.Count > 0)
        {
            string shown = string.Join("; ", problems.Take(8)) + (problems.Count > 8 ? $"; and {problems.Count - 8} more" : "");
            throw new InvalidCheckpointException(
                $"The weights in '{source}' do not match config.json ({config.NumLayers} layers, hidden_size {config.HiddenSize}, vocab_size {config.VocabSize}): {shown}. Use the config.json saved with these weights.");
        }
    }

    /// <summary>
    /// Throws <see cref="InvalidCheckpointException"/> naming the first tensor of <paramref name="tensors"/> that
    /// contains a NaN or an infinity, with the element index; <paramref name="source"/> names the file.
    /// </summary>
    public static void CheckFinite(IEnumerable<NamedTensor> tensors, string source)
    {
        foreach (var tensor in tensors)
        {
            long index = tensor.IndexOfNonFinite();
            if (index >= 0)
            {
                string value = tensor.Data[index].ToString(CultureInfo.InvariantCulture);
                throw new InvalidCheckpointException(
                    $"Tensor '{tensor.Name}' in '{source}' contains {value} at element {index}; every weight must be finite. The run diverged before this checkpoint was written: use an earlier checkpoint.");
            }
        }
    }

    private static IEnumerable<string> NameAndShapeProblems(ModelConfig config, IReadOnlyDictionary<string, NamedTensor> tensors)
    {
        var expected = Expected(config);
        foreach (var (name, shape) in expected)
        {
            if (!tensors.TryGetValue(name, out var tensor))
            {
                yield return $"'{name}' is missing";
            }
            else if (!tensor.Shape.SequenceEqual(shape))
            {
                yield return $"'{name}' has shape [{string.Join(", ", tensor.Shape)}], expected [{string.Join(", ", shape)}]";
            }
        }

        var names = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in tensors.Keys.Where(k => !names.Contains(k)).Order(StringComparer.Ordinal))
        {
            yield return $"'{name}' is not part of this configuration";
        }
    }
}

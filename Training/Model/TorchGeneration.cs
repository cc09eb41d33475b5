// Dimension letters: B batch (1 here), T tokens, V vocabulary.
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Model;

/// <summary>Sampling settings for <see cref="TorchGeneration.Generate"/>.</summary>
public sealed record SamplingSettings
{
    /// <summary>Most tokens to generate.</summary>
    public int MaxNewTokens { get; init; } = 64;

    /// <summary>Softmax temperature; 0 picks the most likely token (greedy).</summary>
    public double Temperature { get; init; }

    /// <summary>Keep only the K most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of tokens whose probability reaches P; 1 keeps all.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Seed of the sampling generator.</summary>
    public long Seed { get; init; }

    /// <summary>Stop after generating this id, when set.</summary>
    public int? EosId { get; init; }
}

/// <summary>KV-cached text generation with the TorchSharp model, for checking the exported graph and for quick tries.</summary>
public static class TorchGeneration
{
    /// <summary>Generates up to <see cref="SamplingSettings.MaxNewTokens"/> ids after <paramref name="prompt"/>.</summary>
    public static List<int> Generate(SimpleTransformer model, IReadOnlyList<int> prompt, SamplingSettings settings)
    {
        if (prompt.Count == 0)
        {
            throw new ArgumentException("The prompt is empty; pass at least one token id.", nameof(prompt));
        }

        if (prompt.Count + settings.MaxNewTokens > model.Config.MaxPositions)
        {
            throw new ArgumentException(
                $"The prompt ({prompt.Count} tokens) plus MaxNewTokens ({settings.MaxNewTokens}) exceeds max_position_embeddings {model.Config.MaxPositions}. Shorten the prompt or lower MaxNewTokens.",
                nameof(prompt));
        }

        using var noGrad = no_grad();
        using var generator = new Generator((ulong)settings.Seed, CPU);
        model.eval();
        var generated = new List<int>();
        LayerCache[]? cache = null;
        var next = prompt.Select(i => (long)i).ToArray();
        int total = 0;
        try
        {
            for (int i = 0; i < settings.MaxNewTokens; i++)
            {
                using var scope = NewDisposeScope();
                total += next.Length;
                var inputIds = tensor(next, [1, next.Length]);                                  // [1, T]
                var mask = ones(1, total, dtype: int64);                                        // [1, S]
                var positions = arange(total - next.Length, total, dtype: int64).view(1, -1);   // [1, T]
                var (logits, presents) = model.Forward(inputIds, mask, positions, cache);
                foreach (var layer in presents)
                {
                    layer.Key.MoveToOuterDisposeScope();
                    layer.Value.MoveToOuterDisposeScope();
                }

                DisposeCache(cache);
                cache = presents;
                var last = logits[0, -1];                                                       // [V]
                int token = (int)Pick(last, settings, generator);
                generated.Add(token);
                if (token == settings.EosId)
                {
                    break;
                }

                next = [token];
            }
        }
        finally
        {
            DisposeCache(cache);
        }

        return generated;
    }

    private static long Pick(Tensor logits, SamplingSettings settings, Generator generator)
    {
        if (settings.Temperature <= 0)
        {
            return logits.argmax().item<long>();
        }

        var scaled = logits / settings.Temperature;
        if (settings.TopK > 0 && settings.TopK < scaled.shape[0])
        {
            var kth = scaled.topk(settings.TopK).values[-1];
            scaled = scaled.masked_fill(scaled.lt(kth), double.NegativeInfinity);
        }

        if (settings.TopP < 1.0)
        {
            var (sorted, order) = scaled.sort(descending: true);
            var cumulative = sorted.softmax(0).cumsum(0);
            var drop = (cumulative - sorted.softmax(0)).gt(settings.TopP);   // keep the token that crosses P
            var dropInOrder = zeros_like(drop).scatter(0, order, drop);
            scaled = scaled.masked_fill(dropInOrder, double.NegativeInfinity);
        }

        return multinomial(scaled.softmax(0), 1, generator: generator).item<long>();
    }

    private static void DisposeCache(LayerCache[]? cache)
    {
        foreach (var layer in cache ?? [])
        {
            layer.Dispose();
        }
    }
}

// Dimension letters: B batch, T new tokens, S tokens so far.
using System.Diagnostics;
using SimpleTransformer.Benchmarks.Models;
using SimpleTransformer.Training.Model;
using static TorchSharp.torch;
using TorchModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Benchmarks.Generation;

/// <summary>
/// TorchSharp with its key/value cache: <see cref="TorchGeneration.Generate"/> for one sequence, and the same loop
/// over <see cref="TorchModel.Forward"/> for a batch, which <see cref="TorchGeneration"/> does not take.
/// </summary>
public sealed class TorchCachedGenerator(TorchModel model) : IGenerator
{
    /// <inheritdoc/>
    public string Name => "TorchSharp, cache";

    /// <inheritdoc/>
    public double Generate(PromptSet prompts, int newTokens)
    {
        var stopwatch = Stopwatch.StartNew();
        if (prompts.Batch == 1)
        {
            var tokens = TorchGeneration.Generate(model, prompts.Ids[0], new SamplingSettings { MaxNewTokens = newTokens, Temperature = 0 });
            double seconds = stopwatch.Elapsed.TotalSeconds;
            if (tokens.Count != newTokens)
            {
                throw new InvalidOperationException($"TorchGeneration generated {tokens.Count} tokens, expected {newTokens}.");
            }

            return seconds;
        }

        GenerateBatch(prompts, newTokens);
        return stopwatch.Elapsed.TotalSeconds;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }

    private void GenerateBatch(PromptSet prompts, int newTokens)
    {
        using var noGrad = no_grad();
        int batch = prompts.Batch;
        LayerCache[]? cache = null;
        var next = tensor(prompts.Ids.SelectMany(p => p.Select(id => (long)id)).ToArray(), [batch, prompts.Ids[0].Length]); // [B, T]
        long total = 0;
        try
        {
            for (int step = 0; step < newTokens; step++)
            {
                using var scope = NewDisposeScope();
                long fed = next.shape[1];
                total += fed;
                var mask = ones(batch, total, dtype: int64);                                        // [B, S]
                var positions = arange(total - fed, total, dtype: int64).expand(batch, fed);         // [B, T]
                var (logits, presents) = model.Forward(next, mask, positions, cache);
                foreach (var layer in presents)
                {
                    layer.Key.MoveToOuterDisposeScope();
                    layer.Value.MoveToOuterDisposeScope();
                }

                foreach (var layer in cache ?? [])
                {
                    layer.Dispose();
                }

                cache = presents;
                next.Dispose();
                next = logits[.., -1].argmax(-1).view(batch, 1).MoveToOuterDisposeScope();        // [B, 1]
            }
        }
        finally
        {
            next.Dispose();
            foreach (var layer in cache ?? [])
            {
                layer.Dispose();
            }
        }
    }
}

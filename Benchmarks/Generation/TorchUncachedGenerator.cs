// Dimension letters: B batch, S tokens so far.
using System.Diagnostics;
using SimpleTransformer.Benchmarks.Models;
using static TorchSharp.torch;
using TorchModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Benchmarks.Generation;

/// <summary>TorchSharp without a cache: every token runs the model's training-style forward pass over the whole sequence.</summary>
public sealed class TorchUncachedGenerator(TorchModel model) : IGenerator
{
    /// <inheritdoc/>
    public string Name => "TorchSharp, no cache";

    /// <inheritdoc/>
    public double Generate(PromptSet prompts, int newTokens)
    {
        var stopwatch = Stopwatch.StartNew();
        using var noGrad = no_grad();
        int batch = prompts.Batch;
        var sequence = tensor(prompts.Ids.SelectMany(p => p.Select(id => (long)id)).ToArray(), [batch, prompts.Ids[0].Length]); // [B, S]
        try
        {
            for (int step = 0; step < newTokens; step++)
            {
                using var scope = NewDisposeScope();
                var logits = model.forward(sequence);                                               // [B, S, V]
                var token = logits[.., -1].argmax(-1).view(batch, 1);                               // [B, 1]
                var longer = cat([sequence, token], 1).MoveToOuterDisposeScope();                  // [B, S + 1]
                sequence.Dispose();
                sequence = longer;
            }
        }
        finally
        {
            sequence.Dispose();
        }

        return stopwatch.Elapsed.TotalSeconds;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}

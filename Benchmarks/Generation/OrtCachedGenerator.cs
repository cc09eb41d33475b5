using System.Diagnostics;
using SimpleTransformer.Benchmarks.Models;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Runtime;

namespace SimpleTransformer.Benchmarks.Generation;

/// <summary>The inference library's <see cref="TransformerModel.GenerateBatch"/>: ONNX Runtime with the key/value cache.</summary>
public sealed class OrtCachedGenerator : IGenerator
{
    private readonly TransformerModel _model;

    /// <summary>Loads the exported directory with <paramref name="threads"/> intra-op threads.</summary>
    public OrtCachedGenerator(string name, string modelDirectory, int threads)
    {
        Name = name;
        _model = TransformerModel.Load(modelDirectory, new ModelOptions { IntraOpThreads = threads });
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The loaded model, for measurements that call the library directly.</summary>
    public TransformerModel Model => _model;

    /// <summary>Greedy options that never stop early, so every run generates exactly <paramref name="newTokens"/> tokens.</summary>
    public static GenerationOptions Greedy(int newTokens) =>
        new() { MaxNewTokens = newTokens, Temperature = 0, StopOnEndOfSequence = false };

    /// <inheritdoc/>
    public double Generate(PromptSet prompts, int newTokens)
    {
        var stopwatch = Stopwatch.StartNew();
        var results = _model.GenerateBatch(prompts.Texts, Greedy(newTokens));
        double seconds = stopwatch.Elapsed.TotalSeconds;
        if (results.Any(r => r.TokenIds.Count != newTokens))
        {
            throw new InvalidOperationException($"{Name} generated {string.Join(", ", results.Select(r => r.TokenIds.Count))} tokens per sequence, expected {newTokens}.");
        }

        return seconds;
    }

    /// <inheritdoc/>
    public void Dispose() => _model.Dispose();
}

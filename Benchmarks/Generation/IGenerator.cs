using SimpleTransformer.Benchmarks.Models;

namespace SimpleTransformer.Benchmarks.Generation;

/// <summary>One way of generating text greedily with the benchmark model, timed per call.</summary>
public interface IGenerator : IDisposable
{
    /// <summary>The name shown in the tables.</summary>
    string Name { get; }

    /// <summary>
    /// Generates <paramref name="newTokens"/> tokens greedily after every prompt (one prefill run, then
    /// <paramref name="newTokens"/> - 1 decoding runs) and returns the seconds the generation took.
    /// </summary>
    double Generate(PromptSet prompts, int newTokens);
}

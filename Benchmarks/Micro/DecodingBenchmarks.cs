using BenchmarkDotNet.Attributes;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Runtime;

namespace SimpleTransformer.Benchmarks.Micro;

/// <summary>
/// BenchmarkDotNet cases on the inference library's public API: a one-token generation (prefill and one greedy
/// choice), a greedy and a sampled generation of <see cref="LongTokens"/> tokens. Differences between the cases give
/// the cost of one decoding step and of sampling per token.
/// </summary>
public class DecodingBenchmarks
{
    /// <summary>Tokens of the longer generations.</summary>
    public const int LongTokens = 33;

    private TransformerModel? _model;
    private string _prompt = "";

    /// <summary>The exported model directory, set before BenchmarkDotNet runs the class in this process.</summary>
    public static string ModelDirectory { get; set; } = "";

    /// <summary>Intra-op threads of the session.</summary>
    public static int Threads { get; set; } = 1;

    /// <summary>The prompt, as text of the benchmark alphabet.</summary>
    public static string Prompt { get; set; } = "";

    /// <summary>Loads the model once per case.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _model = TransformerModel.Load(ModelDirectory, new ModelOptions { IntraOpThreads = Threads });
        _prompt = Prompt;
    }

    /// <summary>Disposes the model.</summary>
    [GlobalCleanup]
    public void Cleanup() => _model?.Dispose();

    /// <summary>The prefill run and one greedy choice.</summary>
    [Benchmark]
    public int OneToken() => _model!.Generate(_prompt, Greedy(1)).TokenCount;

    /// <summary>The prefill run and <see cref="LongTokens"/> - 1 decoding steps, greedy.</summary>
    [Benchmark]
    public int GreedyTokens() => _model!.Generate(_prompt, Greedy(LongTokens)).TokenCount;

    /// <summary>As <see cref="GreedyTokens"/>, sampling with temperature 0.8, top-k 40, top-p 0.9 and a repetition penalty of 1.1.</summary>
    [Benchmark]
    public int SampledTokens() => _model!.Generate(_prompt, new GenerationOptions
    {
        MaxNewTokens = LongTokens,
        Temperature = 0.8f,
        TopK = 40,
        TopP = 0.9f,
        RepetitionPenalty = 1.1f,
        Seed = 1,
        StopOnEndOfSequence = false,
    }).TokenCount;

    private static GenerationOptions Greedy(int tokens) => new() { MaxNewTokens = tokens, Temperature = 0, StopOnEndOfSequence = false };
}

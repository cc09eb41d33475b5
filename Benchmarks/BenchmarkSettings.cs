namespace SimpleTransformer.Benchmarks;

/// <summary>How long each part of the benchmark measures: <c>tiny</c> checks that every part runs, <c>quick</c> finishes in a few minutes, <c>full</c> gives tighter medians.</summary>
public sealed record BenchmarkSettings
{
    /// <summary>The setting's name as printed in the report: tiny, quick or full.</summary>
    public required string Name { get; init; }

    /// <summary>Intra-op threads for TorchSharp, ONNX Runtime and PyTorch alike.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Whether the decoding model has the quick preset's shape (false: a tiny shape that only checks the program runs).</summary>
    public bool PresetShapes { get; init; } = true;

    /// <summary>Interleaved rounds of every whole-generation measurement.</summary>
    public int Rounds { get; init; }

    /// <summary>Prompt tokens of the generation comparison.</summary>
    public int PromptTokens { get; init; } = 16;

    /// <summary>Tokens generated per run of the generation comparison.</summary>
    public int NewTokens { get; init; }

    /// <summary>Batch sizes of the generation comparison.</summary>
    public int[] Batches { get; init; } = [1, 8];

    /// <summary>max_position_embeddings of the benchmark model, at least 512 so that the context sweep reaches 512.</summary>
    public int ContextLength { get; init; } = 1024;

    /// <summary>Context lengths of the context sweep, up to <see cref="ContextLength"/>.</summary>
    public int[] Contexts { get; init; } = [16, 128, 512, 1024];

    /// <summary>Tokens generated per run of the context sweep with a cache, at most half the context.</summary>
    public int ContextCachedTokens { get; init; }

    /// <summary>Tokens generated per run of the context sweep without a cache, at most half the context. Each costs a whole forward pass.</summary>
    public int ContextUncachedTokens { get; init; }

    /// <summary>Prompt lengths of the prefill measurement.</summary>
    public int[] PrefillLengths { get; init; } = [128, 512];

    /// <summary>Training steps timed per preset after one warm-up step.</summary>
    public int TrainingSteps { get; init; }

    /// <summary>Whether training uses the presets in <c>models/</c> (false: a tiny preset built in memory).</summary>
    public bool TrainPresets { get; init; } = true;

    /// <summary>Sides of the square fp32 matrices of the reference matrix products. The faster product is the utilisation's denominator.</summary>
    public int[] GemmSizes { get; init; } = [1024, 2048];

    /// <summary>Bytes of the arrays of the memory bandwidth measurement, far larger than any CPU cache.</summary>
    public long BandwidthBytes { get; init; } = 512L << 20;

    /// <summary>BenchmarkDotNet iterations per micro-benchmark.</summary>
    public int MicroIterations { get; init; }

    /// <summary>Checks that every setting can be run, naming the first invalid one.</summary>
    public BenchmarkSettings Validate()
    {
        Require(Threads >= 1, nameof(Threads), Threads, "at least 1");
        Require(Rounds >= 1, nameof(Rounds), Rounds, "at least 1");
        Require(NewTokens >= 2, nameof(NewTokens), NewTokens, "at least 2, because a per-token time is the difference of an n-token and a 1-token run");
        Require(ContextCachedTokens >= 2, nameof(ContextCachedTokens), ContextCachedTokens, "at least 2");
        Require(ContextUncachedTokens >= 2, nameof(ContextUncachedTokens), ContextUncachedTokens, "at least 2");
        Require(Contexts.All(c => c >= 4 && c <= ContextLength), nameof(Contexts), string.Join(",", Contexts), $"each in [4, {ContextLength}]");
        Require(PrefillLengths.All(p => p >= 1 && p < ContextLength), nameof(PrefillLengths), string.Join(",", PrefillLengths), $"each in [1, {ContextLength})");
        Require(PromptTokens + NewTokens <= ContextLength, nameof(NewTokens), NewTokens, $"at most {ContextLength - PromptTokens} with {PromptTokens} prompt tokens");
        Require(TrainingSteps >= 1, nameof(TrainingSteps), TrainingSteps, "at least 1");
        Require(MicroIterations >= 3, nameof(MicroIterations), MicroIterations, "at least 3");
        return this;
    }

    /// <summary>Returns the named setting with <paramref name="threads"/> intra-op threads.</summary>
    public static BenchmarkSettings For(string name, int threads) => name switch
    {
        "tiny" => Tiny with { Threads = threads },
        "quick" => Quick with { Threads = threads },
        "full" => Full with { Threads = threads },
        _ => throw new ArgumentException($"Unknown benchmark setting '{name}'; use tiny, quick or full.", nameof(name)),
    };

    /// <summary>Seconds per part: checks that the program runs end to end, the numbers mean nothing.</summary>
    public static BenchmarkSettings Tiny { get; } = new()
    {
        Name = "tiny",
        PresetShapes = false,
        TrainPresets = false,
        Rounds = 1,
        PromptTokens = 4,
        NewTokens = 4,
        Batches = [1, 2],
        ContextLength = 64,
        Contexts = [8, 32, 64],
        ContextCachedTokens = 2,
        ContextUncachedTokens = 2,
        PrefillLengths = [16, 32],
        TrainingSteps = 1,
        GemmSizes = [128, 256],
        BandwidthBytes = 16L << 20,
        MicroIterations = 3,
    };

    /// <summary>A few minutes in all on two cores.</summary>
    public static BenchmarkSettings Quick { get; } = new()
    {
        Name = "quick",
        Rounds = 5,
        NewTokens = 48,
        ContextCachedTokens = 64,
        ContextUncachedTokens = 4,
        TrainingSteps = 2,
        MicroIterations = 8,
    };

    /// <summary>Tighter medians, at about four times the time of <see cref="Quick"/>.</summary>
    public static BenchmarkSettings Full { get; } = new()
    {
        Name = "full",
        Rounds = 11,
        NewTokens = 128,
        ContextCachedTokens = 128,
        ContextUncachedTokens = 8,
        TrainingSteps = 5,
        MicroIterations = 20,
    };

    private static void Require(bool condition, string name, object value, string expected)
    {
        if (!condition)
        {
            throw new ArgumentException($"Invalid benchmark setting: {name} is {value}, expected {expected}.");
        }
    }
}

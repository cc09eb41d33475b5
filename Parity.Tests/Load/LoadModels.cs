using SimpleTransformer.Export;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Runtime;
using SimpleTransformer.Parity.Tests.Inference;

namespace SimpleTransformer.Parity.Tests.Load;

/// <summary>
/// The exported model for load, soak and cancellation tests: C = 128, H = 4, I = 256, 2 layers, vocabulary 42 and a
/// context of 256 tokens, so that one generation can run 200 tokens. Its key/value cache takes 4 KiB per token of
/// capacity (2 buffers × keys and values × 2 layers × 128 × 4 bytes), so leaking the cache of every call would show in
/// the process's memory within 10,000 tokens.
/// </summary>
internal static class LoadModels
{
    private static readonly Lazy<string> Exported = new(() => InferenceModels.Export("load", Config, ExportOptions.Default, seed: 11));

    /// <summary>The model's configuration.</summary>
    public static ModelConfig Config { get; } = (InferenceModels.Small with { HiddenSize = 128, IntermediateSize = 256, MaxPositions = 256 }).Validate();

    /// <summary>The exported model directory, written on first use.</summary>
    public static string Directory => Exported.Value;

    /// <summary>Loads the model with one intra-op thread, so that concurrency comes from the callers' threads only.</summary>
    public static TransformerModel Load() => TransformerModel.Load(Directory, new ModelOptions { IntraOpThreads = 1 });
}

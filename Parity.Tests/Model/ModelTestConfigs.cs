using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Parity.Tests.Model;

/// <summary>Tiny configurations for TorchSharp model tests.</summary>
internal static class ModelTestConfigs
{
    /// <summary>V = 13, C = 16, H = 4, I = 32, 2 layers, context 32, learned positions, pre-norm, no dropout.</summary>
    public static ModelConfig Tiny { get; } = new ModelConfig
    {
        VocabSize = 13,
        HiddenSize = 16,
        NumLayers = 2,
        NumHeads = 4,
        IntermediateSize = 32,
        MaxPositions = 32,
    }.Validate();
}

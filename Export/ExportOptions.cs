namespace SimpleTransformer.Export;

/// <summary>Which operators the exported graph is built from.</summary>
public enum ExportGraph
{
    /// <summary>Standard ONNX operators of opset 17 only; runs on any ONNX runtime.</summary>
    Standard,

    /// <summary>
    /// ONNX Runtime's fused <c>com.microsoft</c> operators (<c>MultiHeadAttention</c>,
    /// <c>RotaryEmbedding</c>, <c>BiasGelu</c>, <c>FastGelu</c>) wherever one computes exactly what the standard
    /// subgraph computes; standard operators elsewhere. Runs on ONNX Runtime only.
    /// </summary>
    Optimized,
}

/// <summary>The element type of the exported weights and key-value cache.</summary>
public enum ExportPrecision
{
    /// <summary>Everything in float32.</summary>
    Float32,

    /// <summary>
    /// Weights, activations between the norms and the key-value cache in float16. LayerNorm, the residual stream, the
    /// standard graph's mask and softmax, and the logits output stay float32.
    /// </summary>
    Float16,
}

/// <summary>Optional settings of an ONNX export. The defaults write one self-contained fp32 <c>model.onnx</c> of standard operators.</summary>
public sealed record ExportOptions
{
    /// <summary>
    /// Size in bytes from which an initializer's data goes to <c>model.onnx.data</c> as ONNX external data
    /// instead of into <c>model.onnx</c>. Null (the default) keeps every tensor inside <c>model.onnx</c>,
    /// which protobuf limits to 2 GB, so models with more than about 500 million parameters need a threshold.
    /// </summary>
    public long? ExternalDataThreshold { get; init; }

    /// <summary>
    /// Tokenizer kind (<c>char</c> or <c>gpt2</c>) recorded under the metadata key <c>tokenizer</c>; null
    /// leaves the key out. <see cref="OnnxExporter.ExportDirectory"/> takes it from <c>tokenizer.json</c>.
    /// </summary>
    public string? TokenizerKind { get; init; }

    /// <summary>Standard operators (the default) or ONNX Runtime's fused operators. The graph inputs and outputs are the same for both.</summary>
    public ExportGraph Graph { get; init; } = ExportGraph.Standard;

    /// <summary>Float32 (the default) or float16 weights and key-value cache.</summary>
    public ExportPrecision Precision { get; init; } = ExportPrecision.Float32;

    /// <summary>Default options: standard fp32 graph, all weights inside <c>model.onnx</c>, no tokenizer metadata.</summary>
    public static ExportOptions Default { get; } = new();

    internal void Validate()
    {
        if (ExternalDataThreshold is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ExternalDataThreshold), ExternalDataThreshold,
                "The external data threshold is a size in bytes and must be 0 or more (0 moves every tensor to model.onnx.data).");
        }

        if (!Enum.IsDefined(Graph))
        {
            throw new ArgumentOutOfRangeException(nameof(Graph), Graph, $"Unknown graph kind; use {nameof(ExportGraph.Standard)} or {nameof(ExportGraph.Optimized)}.");
        }

        if (!Enum.IsDefined(Precision))
        {
            throw new ArgumentOutOfRangeException(nameof(Precision), Precision, $"Unknown precision; use {nameof(ExportPrecision.Float32)} or {nameof(ExportPrecision.Float16)}.");
        }
    }
}

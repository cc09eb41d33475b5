namespace SimpleTransformer.Export;

/// <summary>Optional settings of an ONNX export. The defaults write one self-contained <c>model.onnx</c>.</summary>
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

    /// <summary>Default options: all weights inside <c>model.onnx</c>, no tokenizer metadata.</summary>
    public static ExportOptions Default { get; } = new();

    internal void Validate()
    {
        if (ExternalDataThreshold is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ExternalDataThreshold), ExternalDataThreshold,
                "The external data threshold is a size in bytes and must be 0 or more (0 moves every tensor to model.onnx.data).");
        }
    }
}

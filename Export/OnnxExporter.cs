using System.Reflection;
using SimpleTransformer.Export.Graph;
using SimpleTransformer.Export.Onnx;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Export;

/// <summary>
/// Turns a checkpoint (configuration and fp32 weights) into an ONNX model with the inputs and outputs that
/// generation expects: <c>input_ids</c>, <c>attention_mask</c>, <c>position_ids</c> and
/// <c>past_key_values.{i}.key/value</c> in, <c>logits</c> and <c>present.{i}.key/value</c> out. The graph is
/// built from standard opset-17 operators or, on request, from ONNX Runtime's fused operators, in float32 or
/// float16 (<see cref="ExportOptions"/>).
/// </summary>
public static class OnnxExporter
{
    /// <summary>The ONNX operator set version of the default domain.</summary>
    public const int OpsetVersion = 17;

    /// <summary>The ONNX IR version that goes with opset 17.</summary>
    public const int IrVersion = 8;

    /// <summary>The value of <c>ModelProto.producer_name</c>.</summary>
    public const string ProducerName = "SimpleTransformer.Export";

    /// <summary>The model file name inside an exported directory.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>The weights file name inside a checkpoint directory.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>Metadata key of the configuration JSON, the same text as the exported <c>config.json</c>.</summary>
    public const string ConfigMetadataKey = "config";

    /// <summary>Metadata key of the tokenizer kind.</summary>
    public const string TokenizerMetadataKey = "tokenizer";

    /// <summary>Metadata key of the graph kind: <c>standard</c> or <c>optimized</c>.</summary>
    public const string GraphMetadataKey = "graph";

    /// <summary>Metadata key of the weight and key-value cache precision: <c>float32</c> or <c>float16</c>.</summary>
    public const string PrecisionMetadataKey = "precision";

    /// <summary>
    /// Metadata key of the comma-separated <c>com.microsoft</c> operators the graph uses, in order of first use;
    /// an empty value for the standard graph.
    /// </summary>
    public const string FusedOperatorsMetadataKey = "fused_operators";

    /// <summary>The version of ONNX Runtime's <c>com.microsoft</c> operator set imported by the optimized graph.</summary>
    public const int MicrosoftOpsetVersion = 1;

    /// <summary>
    /// Builds the ONNX model of <paramref name="config"/> with <paramref name="weights"/> as initializers
    /// (inline raw data; <see cref="OnnxModelFile.Save"/> decides what goes external), in the graph kind and
    /// precision of <paramref name="options"/>. The same arguments always give the same model. Throws
    /// <see cref="InvalidCheckpointException"/> when the weights do not match the configuration.
    /// </summary>
    public static ModelProto Build(ModelConfig config, IReadOnlyDictionary<string, NamedTensor> weights, ExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        config.Validate();
        options.Validate();
        TensorLayout.Check(config, weights, "the weights passed to OnnxExporter.Build");
        foreach (var tensor in weights.Values.Where(t => t.ElementCount != t.Data.LongLength))
        {
            throw new InvalidCheckpointException(
                $"Tensor '{tensor.Name}' has shape [{string.Join(", ", tensor.Shape)}] but {tensor.Data.LongLength} values; expected {tensor.ElementCount}.");
        }

        var (graph, contribOperators) = TransformerGraph.Build(config, weights, options);
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = ProducerVersion(),
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        if (contribOperators.Count > 0)
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = GraphBuilder.MicrosoftDomain, Version = MicrosoftOpsetVersion });
        }

        model.MetadataProps.Add(Metadata(ConfigMetadataKey, config.ToJson()));
        if (options.TokenizerKind is not null)
        {
            model.MetadataProps.Add(Metadata(TokenizerMetadataKey, options.TokenizerKind));
        }

        model.MetadataProps.Add(Metadata(GraphMetadataKey, options.Graph == ExportGraph.Optimized ? "optimized" : "standard"));
        model.MetadataProps.Add(Metadata(PrecisionMetadataKey, options.Precision == ExportPrecision.Float16 ? "float16" : "float32"));
        model.MetadataProps.Add(Metadata(FusedOperatorsMetadataKey, string.Join(",", contribOperators.Select(op => $"{GraphBuilder.MicrosoftDomain}.{op}"))));
        return model;
    }

    /// <summary>
    /// Reads <c>config.json</c>, <c>model.safetensors</c> and <c>tokenizer.json</c> from
    /// <paramref name="checkpointDirectory"/> and writes <c>model.onnx</c> (and <c>model.onnx.data</c> when
    /// <see cref="ExportOptions.ExternalDataThreshold"/> moves tensors out), <c>config.json</c>,
    /// <c>tokenizer.json</c> and <c>genai_config.json</c> to <paramref name="outputDirectory"/>, creating it when
    /// needed. Each file is written atomically.
    /// </summary>
    public static void ExportDirectory(string checkpointDirectory, string outputDirectory, ExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Directory.Exists(checkpointDirectory))
        {
            throw new DirectoryNotFoundException(
                $"Checkpoint directory not found: '{checkpointDirectory}'. Pass a directory written by training, one that holds {ModelConfig.FileName}, {WeightsFileName} and {TokenizerFile.FileName}.");
        }

        var config = ModelConfig.Load(checkpointDirectory);
        string weightsPath = Path.Combine(checkpointDirectory, WeightsFileName);
        if (!File.Exists(weightsPath))
        {
            throw new FileNotFoundException(
                $"Weights not found: '{weightsPath}'. Pass a checkpoint directory written by training, one that holds {WeightsFileName}.", weightsPath);
        }

        var weights = Safetensors.Load(weightsPath);
        TensorLayout.Check(config, weights, weightsPath);
        TensorLayout.CheckFinite(weights.Values, weightsPath);

        var (tokenizerBytes, tokenizer) = ReadTokenizer(checkpointDirectory, config);
        string tokenizerKind = tokenizer.Kind;
        if (options.TokenizerKind is not null && options.TokenizerKind != tokenizerKind)
        {
            throw new ArgumentException(
                $"ExportOptions.TokenizerKind is '{options.TokenizerKind}' but '{Path.Combine(checkpointDirectory, TokenizerFile.FileName)}' is a '{tokenizerKind}' tokenizer. Leave TokenizerKind unset when exporting a directory.",
                nameof(options));
        }

        var model = Build(config, weights, options with { TokenizerKind = tokenizerKind });

        // NOTE: each file is replaced atomically, but not the set: a process killed between these writes leaves
        // a new model.onnx beside the previous export's other files.
        Directory.CreateDirectory(outputDirectory);
        OnnxModelFile.Save(model, Path.Combine(outputDirectory, ModelFileName), options.ExternalDataThreshold);
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, ModelConfig.FileName), config.ToJson());
        AtomicFile.Write(Path.Combine(outputDirectory, TokenizerFile.FileName), stream => stream.Write(tokenizerBytes));
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, GenAiConfig.FileName), GenAiConfig.ToJson(config, tokenizer.EosId, tokenizer.PadId));
    }

    // Returns the file's bytes, copied unchanged, and the parsed tokenizer after checking that it fits the vocabulary.
    private static (byte[] Bytes, ITextTokenizer Tokenizer) ReadTokenizer(string checkpointDirectory, ModelConfig config)
    {
        string path = Path.Combine(checkpointDirectory, TokenizerFile.FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"Tokenizer not found: '{path}'. Pass a checkpoint directory written by training, one that holds {TokenizerFile.FileName}.", path);
        }

        byte[] bytes = File.ReadAllBytes(path);
        var tokenizer = TokenizerFile.Parse(bytes, path);
        if (tokenizer.VocabSize > config.VocabSize)
        {
            throw new InvalidCheckpointException(
                $"The tokenizer '{path}' has {tokenizer.VocabSize} tokens but the model's vocab_size is {config.VocabSize}. Use the tokenizer saved with this checkpoint.");
        }

        return (bytes, tokenizer);
    }

    private static StringStringEntryProto Metadata(string key, string value) => new() { Key = key, Value = value };

    private static string ProducerVersion() =>
        typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(OnnxExporter).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}

using SimpleTransformer.Export;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>Small model configurations, seeded random weights and checkpoint directories for export tests.</summary>
internal static class ExportFixtures
{
    /// <summary>The characters of the test tokenizer; with the 3 special tokens it has 11 ids, the test vocab_size.</summary>
    public const string TokenizerText = "abcdefgh";

    /// <summary>V = 11, C = 16, H = 2, I = 32, 2 layers, context 24, learned, pre-norm, exact GELU, untied.</summary>
    public static ModelConfig Small { get; } = new ModelConfig
    {
        VocabSize = 11,
        HiddenSize = 16,
        NumLayers = 2,
        NumHeads = 2,
        IntermediateSize = 32,
        MaxPositions = 24,
    }.Validate();

    /// <summary>
    /// A covering set of variants. Every position scheme appears with pre- and post-norm, with and without a
    /// sliding window, and with tied and untied embeddings. Every activation appears three times, and ALiBi also
    /// runs with a head count that is not a power of two.
    /// </summary>
    public static IReadOnlyDictionary<string, ModelConfig> Variants { get; } = new Dictionary<string, ModelConfig>
    {
        ["learned-pre-gelu"] = Variant(PositionEmbedding.Learned, NormPosition.Pre, Activation.Gelu, window: null, tied: false),
        ["learned-post-relu-window-tied"] = Variant(PositionEmbedding.Learned, NormPosition.Post, Activation.Relu, window: 4, tied: true),
        ["sinusoidal-post-gelu_tanh-window-tied"] = Variant(PositionEmbedding.Sinusoidal, NormPosition.Post, Activation.GeluTanh, window: 4, tied: true),
        ["sinusoidal-pre-gelu"] = Variant(PositionEmbedding.Sinusoidal, NormPosition.Pre, Activation.Gelu, window: null, tied: false),
        ["rotary-pre-relu-window"] = Variant(PositionEmbedding.Rotary, NormPosition.Pre, Activation.Relu, window: 4, tied: false),
        ["rotary-post-gelu_tanh-tied"] = Variant(PositionEmbedding.Rotary, NormPosition.Post, Activation.GeluTanh, window: null, tied: true),
        ["alibi-post-gelu-tied"] = Variant(PositionEmbedding.Alibi, NormPosition.Post, Activation.Gelu, window: null, tied: true),
        ["alibi-pre-gelu_tanh-window"] = Variant(PositionEmbedding.Alibi, NormPosition.Pre, Activation.GeluTanh, window: 4, tied: false),
        ["alibi-pre-relu-3heads"] = (Variant(PositionEmbedding.Alibi, NormPosition.Pre, Activation.Relu, window: null, tied: false) with { HiddenSize = 18, NumHeads = 3 }).Validate(),
    };

    /// <summary>Variant names as MSTest data rows.</summary>
    public static IEnumerable<object[]> VariantNames => Variants.Keys.Select(name => new object[] { name });

    /// <summary>Every variant with every graph kind, as MSTest data rows (variant, graph).</summary>
    public static IEnumerable<object[]> VariantGraphs =>
        Variants.Keys.SelectMany(name => Enum.GetValues<ExportGraph>().Select(graph => new object[] { name, graph }));

    /// <summary>Every variant with every graph kind and precision, as MSTest data rows (variant, graph, precision).</summary>
    public static IEnumerable<object[]> VariantGraphPrecisions =>
        Variants.Keys.SelectMany(name => Enum.GetValues<ExportGraph>().SelectMany(graph =>
            Enum.GetValues<ExportPrecision>().Select(precision => new object[] { name, graph, precision })));

    /// <summary>Variants with a sliding window and every graph kind, as MSTest data rows (variant, graph).</summary>
    public static IEnumerable<object[]> WindowedVariantGraphs =>
        VariantGraphs.Where(row => Variants[(string)row[0]].SlidingWindow is not null);

    private static ModelConfig Variant(PositionEmbedding position, NormPosition norm, Activation activation, int? window, bool tied) =>
        (Small with
        {
            PositionEmbedding = position,
            NormPosition = norm,
            Activation = activation,
            SlidingWindow = window,
            TieWordEmbeddings = tied,
        }).Validate();

    /// <summary>
    /// Seeded random weights for every tensor of <paramref name="config"/>: LayerNorm weights near 1, other
    /// tensors uniform in ±1/√(fan-in) (embeddings ±1), so activations stay of order 1 through the layers.
    /// </summary>
    public static Dictionary<string, NamedTensor> RandomWeights(ModelConfig config, int seed)
    {
        var random = new Random(seed);
        var weights = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in TensorLayout.Expected(config))
        {
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            bool isNormWeight = name.EndsWith("norm.weight", StringComparison.Ordinal);
            double bound = 1.0 / Math.Sqrt(shape[^1]);
            if (name.Contains("embedding", StringComparison.Ordinal))
            {
                bound = 1.0;
            }
            else if (isNormWeight)
            {
                bound = 0.2;
            }

            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (float)((isNormWeight ? 1.0 : 0.0) + bound * (2 * random.NextDouble() - 1));
            }

            weights[name] = new NamedTensor(name, shape, data);
        }

        return weights;
    }

    /// <summary>Writes a checkpoint directory (config, weights, character tokenizer) and returns its path.</summary>
    public static string WriteCheckpoint(string directory, ModelConfig config, int seed)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, ModelConfig.FileName), config.ToJson());
        Safetensors.Save(Path.Combine(directory, "model.safetensors"), RandomWeights(config, seed).Values);
        TokenizerFile.Save(CharTokenizer.FromText(TokenizerText), directory);
        return directory;
    }

    /// <summary>
    /// Writes a checkpoint of <paramref name="config"/> under <paramref name="scratch"/>, exports it to
    /// <c>{scratch}/{name}</c> and returns that model directory.
    /// </summary>
    public static string Export(
        ScratchDirectory scratch,
        ModelConfig config,
        string name = "model",
        int seed = 1,
        long? externalDataThreshold = null,
        ExportGraph graph = ExportGraph.Standard,
        ExportPrecision precision = ExportPrecision.Float32)
    {
        string checkpoint = WriteCheckpoint(Path.Combine(scratch.Path, name + "-checkpoint"), config, seed);
        string model = Path.Combine(scratch.Path, name);
        OnnxExporter.ExportDirectory(checkpoint, model, new ExportOptions { ExternalDataThreshold = externalDataThreshold, Graph = graph, Precision = precision });
        return model;
    }
}

/// <summary>A fresh directory under the system temporary folder, deleted with everything in it on dispose.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory(string label)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "simpletransformer-export-tests", $"{label}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    /// <summary>Full path of the directory.</summary>
    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}

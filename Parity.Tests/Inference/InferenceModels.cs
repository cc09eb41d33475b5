using System.Collections.Concurrent;
using SimpleTransformer.Export;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Parity.Tests.Inference;

/// <summary>
/// Exported model directories for generation tests: a seeded random checkpoint run through the real exporter.
/// Each variant is exported once per test run into a temporary directory that is deleted when the process exits.
/// </summary>
internal static class InferenceModels
{
    /// <summary>
    /// The characters of the test tokenizer: ASCII, two-byte (ä), three-byte (€, 日) and four-byte (🙂, a surrogate
    /// pair) UTF-8 characters. With the 3 special tokens the vocabulary has 42 ids.
    /// </summary>
    public const string Alphabet = "abcdefghijklmnopqrstuvwxyz .,\näöü€日本🙂!?";

    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"simpletransformer-inference-tests-{Environment.ProcessId}");
    private static readonly ConcurrentDictionary<string, Lazy<string>> Exported = new(StringComparer.Ordinal);

    static InferenceModels()
    {
        DeleteStaleRoots();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(Root);
    }

    /// <summary>The tokenizer every test model uses.</summary>
    public static CharTokenizer Tokenizer { get; } = CharTokenizer.FromText(Alphabet);

    /// <summary>C = 32, H = 4, D = 8, I = 64, 2 layers, context 64, learned positions, pre-norm.</summary>
    public static ModelConfig Small { get; } = new ModelConfig
    {
        VocabSize = Tokenizer.VocabSize,
        HiddenSize = 32,
        NumLayers = 2,
        NumHeads = 4,
        IntermediateSize = 64,
        MaxPositions = 64,
    }.Validate();

    /// <summary>
    /// Position schemes, norm positions, a sliding window, tied embeddings, ONNX Runtime's fused operators and a
    /// float16 cache, for batch and cache tests.
    /// </summary>
    public static IReadOnlyDictionary<string, (ModelConfig Config, ExportOptions Options)> Variants { get; } =
        new Dictionary<string, (ModelConfig, ExportOptions)>
        {
            ["learned"] = (Small, ExportOptions.Default),
            ["sinusoidal-post-tied"] = ((Small with { PositionEmbedding = PositionEmbedding.Sinusoidal, NormPosition = NormPosition.Post, TieWordEmbeddings = true }).Validate(), ExportOptions.Default),
            ["rotary-window"] = ((Small with { PositionEmbedding = PositionEmbedding.Rotary, SlidingWindow = 6, Activation = Activation.GeluTanh }).Validate(), ExportOptions.Default),
            ["alibi"] = ((Small with { PositionEmbedding = PositionEmbedding.Alibi, Activation = Activation.Relu }).Validate(), ExportOptions.Default),
            ["rotary-fused"] = ((Small with { PositionEmbedding = PositionEmbedding.Rotary }).Validate(), new ExportOptions { Graph = ExportGraph.Optimized }),
            ["learned-float16"] = (Small, new ExportOptions { Precision = ExportPrecision.Float16 }),
        };

    /// <summary>A larger model for allocation and speed measurements: C = 128, H = 4, I = 512, 4 layers, context 512.</summary>
    public static ModelConfig Benchmark { get; } = (Small with { HiddenSize = 128, NumLayers = 4, IntermediateSize = 512, MaxPositions = 512 }).Validate();

    /// <summary>Variant names as MSTest data rows.</summary>
    public static IEnumerable<object[]> VariantNames => Variants.Keys.Select(name => new object[] { name });

    /// <summary>Returns the exported model directory of a variant or of <c>benchmark</c>, exporting it on first use.</summary>
    public static string Directory(string name = "learned") =>
        Exported.GetOrAdd(name, key => new Lazy<string>(() => key == "benchmark"
            ? Export(key, Benchmark, ExportOptions.Default, seed: 7)
            : Export(key, Variants[key].Config, Variants[key].Options, seed: 7))).Value;

    /// <summary>Creates an empty directory for one test under the run's temporary root.</summary>
    public static string NewDirectory(string name)
    {
        string path = Path.Combine(Root, "cases", $"{name}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Writes a checkpoint of <paramref name="config"/> with seeded random weights and exports it.</summary>
    public static string Export(string name, ModelConfig config, ExportOptions options, int seed)
    {
        string checkpoint = Path.Combine(Root, name, "checkpoint");
        string model = Path.Combine(Root, name, "model");
        System.IO.Directory.CreateDirectory(checkpoint);
        AtomicFile.WriteAllText(Path.Combine(checkpoint, ModelConfig.FileName), config.ToJson());
        Safetensors.Save(Path.Combine(checkpoint, OnnxExporter.WeightsFileName), RandomWeights(config, seed));
        TokenizerFile.Save(Tokenizer, checkpoint);
        OnnxExporter.ExportDirectory(checkpoint, model, options);
        return model;
    }

    /// <summary>Copies an exported model directory so a test can damage its files.</summary>
    public static string CopyOf(string name)
    {
        string source = Directory(name);
        string copy = NewDirectory($"copy-{name}");
        foreach (string file in System.IO.Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        return copy;
    }

    // Removes directories left by earlier runs whose process has ended, in case the exit handler did not run.
    private static void DeleteStaleRoots()
    {
        string prefix = "simpletransformer-inference-tests-";
        foreach (string directory in System.IO.Directory.GetDirectories(Path.GetTempPath(), prefix + "*"))
        {
            if (int.TryParse(Path.GetFileName(directory)[prefix.Length..], out int processId) && !IsRunning(processId))
            {
                TryDelete(directory);
            }
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temporary directory does not affect any test.
        }
    }

    /// <summary>
    /// Seeded weights: LayerNorm weights 1 ± 0.1, biases ± 0.1, embeddings ± 1, other matrices uniform in ± 2/√(fan-in),
    /// so the logits spread over several units and greedy choices are rarely near ties.
    /// </summary>
    private static IEnumerable<NamedTensor> RandomWeights(ModelConfig config, int seed)
    {
        var random = new Random(seed);
        foreach (var (name, shape) in TensorLayout.Expected(config))
        {
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            bool normWeight = name.EndsWith("norm.weight", StringComparison.Ordinal);
            double center = normWeight ? 1 : 0;
            double bound = normWeight || name.EndsWith(".bias", StringComparison.Ordinal) ? 0.1
                : name.Contains("embedding", StringComparison.Ordinal) ? 1
                : 2 / Math.Sqrt(shape[^1]);
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (float)(center + bound * (2 * random.NextDouble() - 1));
            }

            yield return new NamedTensor(name, shape, data);
        }
    }
}

using System.Diagnostics;
using Google.Protobuf;
using SimpleTransformer.Export;
using SimpleTransformer.Export.Onnx;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>Checks the exported files: signature, metadata, determinism, external data, errors and the ONNX checker.</summary>
[TestClass]
public sealed class OnnxExportFileTests
{
    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> VariantNames => ExportFixtures.VariantNames;

    public static IEnumerable<object[]> VariantGraphPrecisions => ExportFixtures.VariantGraphPrecisions;

    [TestMethod]
    public void Export_Directory_HoldsAllModelFiles()
    {
        using var scratch = new ScratchDirectory("files");
        string model = ExportFixtures.Export(scratch, ExportFixtures.Small);

        CollectionAssert.AreEquivalent(new[] { "config.json", "genai_config.json", "model.onnx", "tokenizer.json" },
            Directory.GetFiles(model).Select(Path.GetFileName).ToArray());
        Assert.AreEqual(ExportFixtures.Small, ModelConfig.Load(model));
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(scratch.Path, "model-checkpoint", "tokenizer.json")),
            File.ReadAllBytes(Path.Combine(model, "tokenizer.json")), "tokenizer.json is copied byte for byte");
    }

    [TestMethod]
    public void Export_Signature_MatchesContract()
    {
        var config = ExportFixtures.Small;
        using var scratch = new ScratchDirectory("signature");
        using var runner = new OnnxModelRunner(ExportFixtures.Export(scratch, config));
        var inputs = runner.Session.InputMetadata;
        var outputs = runner.Session.OutputMetadata;

        CollectionAssert.AreEqual(
            new[] { "input_ids", "attention_mask", "position_ids", "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value" },
            inputs.Keys.ToArray());
        CollectionAssert.AreEqual(
            new[] { "logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value" },
            outputs.Keys.ToArray());

        CollectionAssert.AreEqual(new[] { "batch_size", "sequence_length" }, inputs["input_ids"].SymbolicDimensions);
        CollectionAssert.AreEqual(new[] { "batch_size", "total_sequence_length" }, inputs["attention_mask"].SymbolicDimensions);
        CollectionAssert.AreEqual(new[] { "batch_size", "sequence_length" }, inputs["position_ids"].SymbolicDimensions);
        CollectionAssert.AreEqual(new[] { -1, config.NumHeads, -1, config.HeadSize }, inputs["past_key_values.1.value"].Dimensions);
        Assert.AreEqual("past_sequence_length", inputs["past_key_values.1.value"].SymbolicDimensions[2]);
        Assert.AreEqual(typeof(long), inputs["input_ids"].ElementType);
        Assert.AreEqual(typeof(float), inputs["past_key_values.0.key"].ElementType);

        CollectionAssert.AreEqual(new[] { -1, -1, config.VocabSize }, outputs["logits"].Dimensions);
        CollectionAssert.AreEqual(new[] { -1, config.NumHeads, -1, config.HeadSize }, outputs["present.0.key"].Dimensions);
        Assert.AreEqual("total_sequence_length", outputs["present.0.key"].SymbolicDimensions[2]);
    }

    [TestMethod]
    public void Export_Metadata_HoldsConfigTokenizerAndProducer()
    {
        var config = ExportFixtures.Variants["rotary-pre-relu-window"];
        using var scratch = new ScratchDirectory("metadata");
        string model = ExportFixtures.Export(scratch, config);
        using var runner = new OnnxModelRunner(model);
        var metadata = runner.Session.ModelMetadata;

        Assert.AreEqual(config, ModelConfig.FromJson(metadata.CustomMetadataMap["config"], "metadata"));
        Assert.AreEqual(File.ReadAllText(Path.Combine(model, "config.json")), metadata.CustomMetadataMap["config"]);
        Assert.AreEqual("char", metadata.CustomMetadataMap["tokenizer"]);
        Assert.AreEqual("SimpleTransformer.Export", metadata.ProducerName);

        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(model, "model.onnx")));
        Assert.AreEqual(8L, proto.IrVersion);
        Assert.HasCount(1, proto.OpsetImport);
        Assert.AreEqual("", proto.OpsetImport[0].Domain);
        Assert.AreEqual(17L, proto.OpsetImport[0].Version);
        Assert.IsFalse(string.IsNullOrEmpty(proto.ProducerVersion), "producer_version is set");
    }

    [TestMethod]
    public void Build_Graph_UsesCheckpointNamesAndHierarchicalNodes()
    {
        var config = ExportFixtures.Small;
        var proto = OnnxExporter.Build(config, ExportFixtures.RandomWeights(config, seed: 1), ExportOptions.Default);
        var initializers = proto.Graph.Initializer.ToDictionary(t => t.Name);
        var nodeNames = proto.Graph.Node.Select(n => n.Name).ToList();

        foreach (var (name, shape) in TensorLayout.Expected(config))
        {
            Assert.IsTrue(initializers.TryGetValue(name, out var tensor), $"initializer '{name}' exists");
            CollectionAssert.AreEqual(shape, tensor.Dims.ToArray(), $"'{name}' keeps the checkpoint layout");
        }

        CollectionAssert.AllItemsAreUnique(nodeNames);
        CollectionAssert.Contains(nodeNames, "/layers.1/attn/q_proj/MatMul");
        CollectionAssert.Contains(nodeNames, "/layers.0/mlp/fc_in/Transpose");
        Assert.HasCount(1, proto.Graph.Node.Where(n => n.OpType == "Where"), "the attention mask is built once for all layers");
        Assert.HasCount(2 * config.NumLayers + 1, proto.Graph.Node.Where(n => n.OpType == "LayerNormalization"));
    }

    [TestMethod]
    public void Build_TenMillionParameterConfig_ReportsTime()
    {
        var config = new ModelConfig
        {
            VocabSize = 100,
            HiddenSize = 384,
            NumLayers = 6,
            NumHeads = 6,
            IntermediateSize = 1536,
            MaxPositions = 256,
            PositionEmbedding = PositionEmbedding.Rotary,
        }.Validate();
        var weights = ExportFixtures.RandomWeights(config, seed: 1);
        long parameters = weights.Values.Sum(t => t.ElementCount);

        OnnxExporter.Build(config, weights, ExportOptions.Default);
        var stopwatch = Stopwatch.StartNew();
        var proto = OnnxExporter.Build(config, weights, ExportOptions.Default);
        double buildMs = stopwatch.Elapsed.TotalMilliseconds;
        stopwatch.Restart();
        int bytes = proto.CalculateSize();
        byte[] serialized = proto.ToByteArray();
        double serializeMs = stopwatch.Elapsed.TotalMilliseconds;

        TestContext.WriteLine($"{parameters} parameters, {proto.Graph.Node.Count} nodes: build {buildMs:F1} ms, serialize {serialized.Length} bytes {serializeMs:F1} ms (second run, one process)");
        Assert.AreEqual(bytes, serialized.Length);
        Assert.IsGreaterThan(parameters * sizeof(float), (long)serialized.Length, "every weight is in the model");
    }

    [TestMethod]
    [DynamicData(nameof(VariantGraphPrecisions))]
    public void Export_Twice_GivesIdenticalFiles(string variant, ExportGraph graph, ExportPrecision precision)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("determinism");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), config, seed: 7);
        var options = new ExportOptions { ExternalDataThreshold = 512, Graph = graph, Precision = precision };

        OnnxExporter.ExportDirectory(checkpoint, Path.Combine(scratch.Path, "first"), options);
        OnnxExporter.ExportDirectory(checkpoint, Path.Combine(scratch.Path, "second"), options);

        foreach (string file in new[] { "model.onnx", "model.onnx.data", "config.json", "tokenizer.json", "genai_config.json" })
        {
            byte[] first = File.ReadAllBytes(Path.Combine(scratch.Path, "first", file));
            byte[] second = File.ReadAllBytes(Path.Combine(scratch.Path, "second", file));
            Assert.IsTrue(first.AsSpan().SequenceEqual(second), $"{file} differs between two exports of the same checkpoint");
        }
    }

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void ExternalData_SmallThreshold_GivesIdenticalLogits(string variant)
    {
        var config = ExportFixtures.Variants[variant];
        const long threshold = 256;
        using var scratch = new ScratchDirectory("external");
        string inline = ExportFixtures.Export(scratch, config, "inline");
        string external = ExportFixtures.Export(scratch, config, "external", externalDataThreshold: threshold);

        Assert.IsFalse(File.Exists(Path.Combine(inline, "model.onnx.data")), "no data file without a threshold");
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(external, "model.onnx")));
        long dataLength = new FileInfo(Path.Combine(external, "model.onnx.data")).Length;
        foreach (var tensor in proto.Graph.Initializer)
        {
            long bytes = tensor.Dims.Aggregate(1L, (a, b) => a * b) * ElementSize(tensor);
            bool moved = tensor.DataLocation == TensorProto.Types.DataLocation.External;
            Assert.AreEqual(bytes >= threshold, moved, $"'{tensor.Name}' ({bytes} bytes) is external exactly when it reaches {threshold} bytes");
            if (moved)
            {
                var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value);
                Assert.AreEqual("model.onnx.data", entries["location"]);
                long offset = long.Parse(entries["offset"]), length = long.Parse(entries["length"]);
                Assert.AreEqual(0L, offset % OnnxModelFile.ExternalDataAlignment, $"'{tensor.Name}' offset {offset} is aligned");
                Assert.AreEqual(bytes, length, $"'{tensor.Name}' length");
                Assert.IsLessThanOrEqualTo(dataLength, offset + length, $"'{tensor.Name}' lies inside the data file");
                Assert.IsTrue(tensor.RawData.IsEmpty, $"'{tensor.Name}' has no inline data");
            }
        }

        long[][] tokens = [[3, 4, 5, 6, 7, 8], [9, 10, 3, 4, 5, 6]];
        using var inlineRunner = new OnnxModelRunner(inline);
        using var externalRunner = new OnnxModelRunner(external);
        float[] expected = inlineRunner.RunFull(tokens).Logits;
        float[] actual = externalRunner.RunFull(tokens).Logits;

        Assert.AreEqual(0f, OnnxExportBehaviorTests.MaxAbsDifference(expected, actual), "external data gives the same logits");
    }

    [TestMethod]
    public void ExternalData_Reexport_RemovesStaleFile()
    {
        using var scratch = new ScratchDirectory("stale-data");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, seed: 1);
        string model = Path.Combine(scratch.Path, "model");

        OnnxExporter.ExportDirectory(checkpoint, model, new ExportOptions { ExternalDataThreshold = 0 });
        Assert.IsTrue(File.Exists(Path.Combine(model, "model.onnx.data")));
        OnnxExporter.ExportDirectory(checkpoint, model, ExportOptions.Default);

        Assert.IsFalse(File.Exists(Path.Combine(model, "model.onnx.data")), "a single-file export leaves no data file behind");
        using var runner = new OnnxModelRunner(model);
        Assert.HasCount(5 * ExportFixtures.Small.VocabSize, runner.RunFull([[3, 4, 5, 6, 7]]).Logits);
    }

    [TestMethod]
    public void ExportDirectory_MissingWeights_NamesPath()
    {
        using var scratch = new ScratchDirectory("missing-weights");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, seed: 1);
        string weights = Path.Combine(checkpoint, "model.safetensors");
        File.Delete(weights);

        var error = Assert.ThrowsExactly<FileNotFoundException>(
            () => OnnxExporter.ExportDirectory(checkpoint, Path.Combine(scratch.Path, "model"), ExportOptions.Default));

        Assert.Contains(weights, error.Message);
        Assert.IsFalse(Directory.Exists(Path.Combine(scratch.Path, "model")), "nothing is written on failure");
    }

    [TestMethod]
    public void ExportDirectory_MissingTokenizer_NamesPath()
    {
        using var scratch = new ScratchDirectory("missing-tokenizer");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, seed: 1);
        string tokenizer = Path.Combine(checkpoint, TokenizerFile.FileName);
        File.Delete(tokenizer);

        var error = Assert.ThrowsExactly<FileNotFoundException>(
            () => OnnxExporter.ExportDirectory(checkpoint, Path.Combine(scratch.Path, "model"), ExportOptions.Default));

        Assert.Contains(tokenizer, error.Message);
    }

    [TestMethod]
    public void ExportDirectory_MissingDirectory_NamesPath()
    {
        string missing = Path.Combine(Path.GetTempPath(), "simpletransformer-export-tests", "no-such-checkpoint-" + Guid.NewGuid().ToString("N"));

        var error = Assert.ThrowsExactly<DirectoryNotFoundException>(
            () => OnnxExporter.ExportDirectory(missing, missing + "-model", ExportOptions.Default));

        Assert.Contains(missing, error.Message);
    }

    [TestMethod]
    public void ExportDirectory_WeightsOfOtherConfig_Rejected()
    {
        using var scratch = new ScratchDirectory("mismatch");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, seed: 1);
        var wider = (ExportFixtures.Small with { IntermediateSize = 48 }).Validate();
        AtomicFile.WriteAllText(Path.Combine(checkpoint, ModelConfig.FileName), wider.ToJson());

        var error = Assert.ThrowsExactly<InvalidCheckpointException>(
            () => OnnxExporter.ExportDirectory(checkpoint, Path.Combine(scratch.Path, "model"), ExportOptions.Default));

        Assert.Contains("layers.0.mlp.fc_in.weight", error.Message);
    }

    [TestMethod]
    public void Build_TensorWithWrongValueCount_Rejected()
    {
        var weights = ExportFixtures.RandomWeights(ExportFixtures.Small, seed: 1);
        weights["final_norm.bias"] = new NamedTensor("final_norm.bias", [16], new float[15]);

        var error = Assert.ThrowsExactly<InvalidCheckpointException>(
            () => OnnxExporter.Build(ExportFixtures.Small, weights, ExportOptions.Default));

        Assert.Contains("final_norm.bias", error.Message);
    }

    [TestMethod]
    public void Build_NegativeThreshold_Rejected()
    {
        var weights = ExportFixtures.RandomWeights(ExportFixtures.Small, seed: 1);

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => OnnxExporter.Build(ExportFixtures.Small, weights, new ExportOptions { ExternalDataThreshold = -1 }));
    }

    [TestMethod]
    [DynamicData(nameof(VariantGraphPrecisions))]
    public void OnnxChecker_FullCheck_Passes(string variant, ExportGraph graph, ExportPrecision precision)
    {
        var config = ExportFixtures.Variants[variant];
        using var scratch = new ScratchDirectory("checker");
        string inline = ExportFixtures.Export(scratch, config, "inline", graph: graph, precision: precision);
        string external = ExportFixtures.Export(scratch, config, "external", externalDataThreshold: 1024, graph: graph, precision: precision);

        string output = OnnxChecker.Check(Path.Combine(inline, "model.onnx"), Path.Combine(external, "model.onnx"));
        TestContext.WriteLine($"{variant} {graph} {precision}:{Environment.NewLine}{output}");
    }

    [TestMethod]
    public void OnnxChecker_BrokenModel_Fails()
    {
        using var scratch = new ScratchDirectory("checker-broken");
        string model = ExportFixtures.Export(scratch, ExportFixtures.Small);
        string path = Path.Combine(model, "model.onnx");
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        proto.Graph.Node.First(n => n.OpType == "Softmax").Input[0] = "no_such_value";
        File.WriteAllBytes(path, proto.ToByteArray());

        Assert.ThrowsExactly<AssertFailedException>(() => OnnxChecker.Check(path));
    }

    private static long ElementSize(TensorProto tensor) => (TensorProto.Types.DataType)tensor.DataType switch
    {
        TensorProto.Types.DataType.Int64 => 8,
        TensorProto.Types.DataType.Float16 => 2,
        _ => 4,
    };
}

using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SimpleTransformer.Export;
using SimpleTransformer.Export.Onnx;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// Checks what the graph kind and precision options change: the operators, the element types of the cache, the
/// metadata and the command line, and that the signature stays the one generation expects.
/// </summary>
[TestClass]
public sealed class OnnxExportOptionsTests
{
    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> VariantNames => ExportFixtures.VariantNames;

    public static IEnumerable<object[]> GraphPrecisions =>
        Enum.GetValues<ExportGraph>().SelectMany(graph => Enum.GetValues<ExportPrecision>().Select(precision => new object[] { graph, precision }));

    [TestMethod]
    [DynamicData(nameof(GraphPrecisions))]
    public void Signature_EveryGraphAndPrecision_KeepsNamesAndShapes(ExportGraph graph, ExportPrecision precision)
    {
        var config = ExportFixtures.Variants["rotary-pre-relu-window"];
        using var scratch = new ScratchDirectory("signature-options");
        using var standard = new OnnxModelRunner(ExportFixtures.Export(scratch, config, "standard"));
        using var other = new OnnxModelRunner(ExportFixtures.Export(scratch, config, "other", graph: graph, precision: precision));
        var cacheType = precision == ExportPrecision.Float16 ? TensorElementType.Float16 : TensorElementType.Float;

        CollectionAssert.AreEqual(standard.Session.InputMetadata.Keys.ToArray(), other.Session.InputMetadata.Keys.ToArray(), "input names and order");
        CollectionAssert.AreEqual(standard.Session.OutputMetadata.Keys.ToArray(), other.Session.OutputMetadata.Keys.ToArray(), "output names and order");
        foreach (var (name, expected) in standard.Session.InputMetadata.Concat(standard.Session.OutputMetadata))
        {
            var actual = other.Session.InputMetadata.TryGetValue(name, out var input) ? input : other.Session.OutputMetadata[name];
            CollectionAssert.AreEqual(expected.Dimensions, actual.Dimensions, $"dimensions of '{name}'");
            CollectionAssert.AreEqual(expected.SymbolicDimensions, actual.SymbolicDimensions, $"symbolic dimensions of '{name}'");
            bool isCache = name.StartsWith("past_key_values.", StringComparison.Ordinal) || name.StartsWith("present.", StringComparison.Ordinal);
            var expectedType = isCache ? cacheType : expected.ElementDataType;
            Assert.AreEqual(expectedType, actual.ElementDataType, $"element type of '{name}'");
        }

        Assert.AreEqual(TensorElementType.Float, other.Session.OutputMetadata["logits"].ElementDataType, "logits are float32 at every precision");
        Assert.AreEqual(TensorElementType.Int64, other.Session.InputMetadata["attention_mask"].ElementDataType);
    }

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void OptimizedGraph_Variant_UsesExactFusedOperators(string variant)
    {
        var config = ExportFixtures.Variants[variant];
        var weights = ExportFixtures.RandomWeights(config, seed: 1);
        var proto = OnnxExporter.Build(config, weights, new ExportOptions { Graph = ExportGraph.Optimized });
        var expected = new List<string>();
        if (config.PositionEmbedding == PositionEmbedding.Rotary)
        {
            expected.Add("RotaryEmbedding");
        }

        expected.Add("MultiHeadAttention");
        if (config.Activation == Activation.Gelu)
        {
            expected.Add("BiasGelu");
        }
        else if (config.Activation == Activation.GeluTanh)
        {
            expected.Add("FastGelu");
        }

        var contribNodes = proto.Graph.Node.Where(n => n.Domain == "com.microsoft").ToList();
        CollectionAssert.AreEqual(expected, contribNodes.Select(n => n.OpType).Distinct().ToList(), "com.microsoft operators in order of first use");
        Assert.AreEqual(string.Join(",", expected.Select(op => "com.microsoft." + op)), Metadata(proto)["fused_operators"]);
        CollectionAssert.Contains(proto.OpsetImport.Select(o => (o.Domain, o.Version)).ToList(), ("com.microsoft", 1L));

        Assert.HasCount(config.NumLayers, contribNodes.Where(n => n.OpType == "MultiHeadAttention"), "one MultiHeadAttention per layer");
        Assert.HasCount(2 * config.NumLayers + 1, proto.Graph.Node.Where(n => n.OpType == "LayerNormalization"), "LayerNorms stay standard");
        Assert.IsEmpty(proto.Graph.Node.Where(n => n.OpType is "Softmax" or "Erf" or "Tanh"), "attention and GELU are fused");
        Assert.HasCount(1, proto.Graph.Node.Where(n => n.OpType == "Where"), "the mask is still built once for all layers");
        TestContext.WriteLine($"{variant}: {Metadata(proto)["fused_operators"]}, {proto.Graph.Node.Count} nodes (standard graph: " +
                              $"{OnnxExporter.Build(config, weights, ExportOptions.Default).Graph.Node.Count})");
    }

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void StandardGraph_Variant_UsesDefaultDomainOnly(string variant)
    {
        var config = ExportFixtures.Variants[variant];
        var proto = OnnxExporter.Build(config, ExportFixtures.RandomWeights(config, seed: 1), new ExportOptions { Precision = ExportPrecision.Float16 });

        Assert.IsTrue(proto.Graph.Node.All(n => n.Domain.Length == 0), "every node is a standard operator");
        CollectionAssert.AreEqual(new[] { ("", 17L) }, proto.OpsetImport.Select(o => (o.Domain, o.Version)).ToArray());
        Assert.AreEqual("", Metadata(proto)["fused_operators"]);
    }

    [TestMethod]
    public void Float16_Weights_StoredAsFloat16ExceptNorms()
    {
        var config = ExportFixtures.Variants["rotary-post-gelu_tanh-tied"];
        var weights = ExportFixtures.RandomWeights(config, seed: 1);
        var proto = OnnxExporter.Build(config, weights, new ExportOptions { Precision = ExportPrecision.Float16, Graph = ExportGraph.Optimized });
        var initializers = proto.Graph.Initializer.ToDictionary(t => t.Name);

        foreach (var (name, shape) in TensorLayout.Expected(config))
        {
            var tensor = initializers[name];
            bool isNorm = name.Contains("norm.", StringComparison.Ordinal);
            var expectedType = isNorm ? TensorProto.Types.DataType.Float : TensorProto.Types.DataType.Float16;
            Assert.AreEqual((int)expectedType, tensor.DataType, $"element type of '{name}'");
            CollectionAssert.AreEqual(shape, tensor.Dims.ToArray(), $"'{name}' keeps the checkpoint layout");
            Assert.AreEqual(shape.Aggregate(1L, (a, b) => a * b) * (isNorm ? 4 : 2), tensor.RawData.Length, $"bytes of '{name}'");
        }

        var cos = initializers["rotary.cos_table"];
        Assert.AreEqual((int)TensorProto.Types.DataType.Float16, cos.DataType, "the rotary cos_cache has the type of the rotated values");
        float first = (float)BitConverter.ToHalf(initializers["layers.0.attn.q_proj.weight"].RawData.Span[..2]);
        Assert.AreEqual((float)(Half)weights["layers.0.attn.q_proj.weight"].Data[0], first, "values are rounded to nearest float16");
        Assert.AreEqual("float16", Metadata(proto)["precision"]);
        Assert.AreEqual("optimized", Metadata(proto)["graph"]);
    }

    [TestMethod]
    [DataRow(PositionEmbedding.Learned, ExportGraph.Standard)]
    [DataRow(PositionEmbedding.Learned, ExportGraph.Optimized)]
    [DataRow(PositionEmbedding.Sinusoidal, ExportGraph.Optimized)]
    [DataRow(PositionEmbedding.Rotary, ExportGraph.Standard)]
    [DataRow(PositionEmbedding.Rotary, ExportGraph.Optimized)]
    [DataRow(PositionEmbedding.Alibi, ExportGraph.Standard)]
    [DataRow(PositionEmbedding.Alibi, ExportGraph.Optimized)]
    public void Float16_FullContext_StaysFiniteAndClose(PositionEmbedding position, ExportGraph graph)
    {
        // A wider model at a long context: 512 positions, so ALiBi biases reach 0.5 · 511 and the float16 mask
        // and cache are exercised far beyond the small test context.
        var config = new ModelConfig
        {
            VocabSize = 50,
            HiddenSize = 64,
            NumLayers = 2,
            NumHeads = 4,
            IntermediateSize = 128,
            MaxPositions = 512,
            PositionEmbedding = position,
            SlidingWindow = position == PositionEmbedding.Alibi ? 200 : null,
        }.Validate();
        using var scratch = new ScratchDirectory("fp16-context");
        using var single = new OnnxModelRunner(ExportFixtures.Export(scratch, config, "fp32", graph: graph));
        using var half = new OnnxModelRunner(ExportFixtures.Export(scratch, config, "fp16", graph: graph, precision: ExportPrecision.Float16));
        var random = new Random(9);
        long[] tokens = [.. Enumerable.Range(0, config.MaxPositions).Select(_ => (long)random.Next(3, config.VocabSize))];
        int promptLength = config.MaxPositions - 1;

        var expected = single.RunFull([tokens[..promptLength]]);
        var actual = half.RunFull([tokens[..promptLength]]);
        var expectedStep = single.Run([[tokens[^1]]], OnnxModelRunner.Ones(1, config.MaxPositions), [[promptLength]], expected.Present);
        var actualStep = half.Run([[tokens[^1]]], OnnxModelRunner.Ones(1, config.MaxPositions), [[promptLength]], actual.Present);

        Assert.IsTrue(actual.Logits.All(float.IsFinite), "every float16 prompt logit is finite");
        Assert.IsTrue(actualStep.Logits.All(float.IsFinite), "every float16 logit of the step that fills the context is finite");
        Assert.IsTrue(actualStep.Present.All(layer => layer.Keys.All(float.IsFinite) && layer.Values.All(float.IsFinite)), "the full float16 cache is finite");
        float promptDifference = OnnxExportBehaviorTests.MaxAbsDifference(expected.Logits, actual.Logits);
        float stepDifference = OnnxExportBehaviorTests.MaxAbsDifference(expectedStep.Logits, actualStep.Logits);
        float scale = expected.Logits.Max(Math.Abs);
        TestContext.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{position} {graph}: max |fp16 - fp32| over {promptLength} prompt positions {promptDifference:E2}, last step {stepDifference:E2}; max |logit| {scale:F2}"));
        Assert.IsLessThanOrEqualTo(2e-2f, promptDifference, "float16 prompt logits");
        Assert.IsLessThanOrEqualTo(2e-2f, stepDifference, "float16 logits of the step that fills the context");
    }

    [TestMethod]
    public void Cli_OptimizedFp16_WritesMetadata()
    {
        using var scratch = new ScratchDirectory("cli");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, seed: 1);
        string output = Path.Combine(scratch.Path, "model");

        var (exitCode, text) = RunExporter(checkpoint, "--output", output, "--graph", "optimized", "--precision", "fp16");

        Assert.AreEqual(0, exitCode, text);
        StringAssert.Contains(text, "optimized graph, fp16");
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(output, "model.onnx")));
        Assert.AreEqual("optimized", Metadata(proto)["graph"]);
        Assert.AreEqual("float16", Metadata(proto)["precision"]);
    }

    [TestMethod]
    public void Build_UndefinedGraphOrPrecision_Rejected()
    {
        var weights = ExportFixtures.RandomWeights(ExportFixtures.Small, seed: 1);

        var graphError = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => OnnxExporter.Build(ExportFixtures.Small, weights, new ExportOptions { Graph = (ExportGraph)7 }));
        var precisionError = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => OnnxExporter.Build(ExportFixtures.Small, weights, new ExportOptions { Precision = (ExportPrecision)7 }));

        Assert.AreEqual(nameof(ExportOptions.Graph), graphError.ParamName);
        Assert.AreEqual(nameof(ExportOptions.Precision), precisionError.ParamName);
    }

    [TestMethod]
    public void Cli_UnknownGraph_Rejected()
    {
        using var scratch = new ScratchDirectory("cli-invalid");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, seed: 1);

        var (exitCode, text) = RunExporter(checkpoint, "--output", Path.Combine(scratch.Path, "model"), "--graph", "fused");

        Assert.AreNotEqual(0, exitCode, text);
        StringAssert.Contains(text, "fused");
        Assert.IsFalse(Directory.Exists(Path.Combine(scratch.Path, "model")), "nothing is written for an invalid option");
    }

    private static Dictionary<string, string> Metadata(ModelProto proto) => proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);

    // Runs the exporter's command line from the test output directory, where the build copies SimpleTransformer.Export.dll.
    private static (int ExitCode, string Output) RunExporter(params string[] arguments)
    {
        string exporter = Path.Combine(AppContext.BaseDirectory, "SimpleTransformer.Export.dll");
        Assert.IsTrue(File.Exists(exporter), $"'{exporter}' is missing; the test project references Export, so a build copies it there.");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(exporter);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.IsTrue(process.WaitForExit(TimeSpan.FromMinutes(2)), "the exporter finished within 2 minutes");
        return (process.ExitCode, stdout + stderr.Result);
    }
}

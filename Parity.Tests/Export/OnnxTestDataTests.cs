using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using SimpleTransformer.Export.Onnx;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// Reads every <c>model.onnx</c> of ONNX's own test data (Debian package libonnx-testdata, ONNX 1.12) with the
/// exporter's <see cref="ModelProto"/>, which declares only the part of onnx.proto the exporter writes. The fields it
/// reads must equal those that the reference reader, Python's onnx package, reads from the same file. The files
/// written back from the parsed messages must load in onnx as messages equal to the originals and pass its checker,
/// which shows that fields outside the subset survive a parse and write.
/// </summary>
[TestClass]
public sealed class OnnxTestDataTests
{
    private const string TestDataDirectory = "/usr/share/libonnx-testdata/data";

    // For each (original, rewritten) pair: the original's summary as onnx reads it, whether the rewritten file
    // loads as an equal message, and the checker's verdict on the rewritten file.
    private const string Script = """
        import json, sys
        import onnx
        def nested(graph):
            count = 0
            for node in graph.node:
                for attribute in node.attribute:
                    subgraphs = ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)
                    for sub in subgraphs:
                        count += len(sub.node) + nested(sub)
            return count
        results = []
        for original, rewritten in json.load(open(sys.argv[1])):
            model = onnx.load(original, load_external_data=False)
            copy = onnx.load(rewritten, load_external_data=False)
            try:
                onnx.checker.check_model(copy)
                checker = "ok"
            except Exception as error:
                checker = str(error).splitlines()[0]
            try:
                onnx.checker.check_model(model)
                original_checker = "ok"
            except Exception as error:
                original_checker = str(error).splitlines()[0]
            graph = model.graph
            results.append({
                "path": original,
                "ir_version": model.ir_version,
                "opsets": [[o.domain, o.version] for o in model.opset_import],
                "nodes": [[n.domain, n.op_type] for n in graph.node],
                "nested_nodes": nested(graph),
                "initializers": [[t.name, t.data_type, list(t.dims)] for t in graph.initializer],
                "inputs": [[v.name, v.type.tensor_type.elem_type] for v in graph.input],
                "outputs": [[v.name, v.type.tensor_type.elem_type] for v in graph.output],
                "equal": model == copy,
                "checker": checker,
                "original_checker": original_checker,
            })
        json.dump(results, sys.stdout)
        """;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void OnnxTestData_EveryModel_MatchesOnnxReader()
    {
        string[] models = FindModels();
        using var scratch = new ScratchDirectory("onnx-testdata");

        var parsed = new List<(string Path, ModelProto Model)>();
        var pairs = new JsonArray();
        for (int i = 0; i < models.Length; i++)
        {
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(models[i]));
            string rewritten = Path.Combine(scratch.Path, $"{i:D4}.onnx");
            File.WriteAllBytes(rewritten, model.ToByteArray());
            parsed.Add((models[i], model));
            pairs.Add(new JsonArray(models[i], rewritten));
        }

        string pairsPath = Path.Combine(scratch.Path, "pairs.json");
        File.WriteAllText(pairsPath, pairs.ToJsonString());
        var (exitCode, output) = OnnxChecker.RunPython(["-c", Script, pairsPath]);
        Assert.AreEqual(0, exitCode, $"/usr/bin/python3 with onnx failed on the test data: {output}");
        var references = JsonNode.Parse(output[output.IndexOf('[')..])!.AsArray();
        Assert.HasCount(models.Length, references, "onnx returned one summary per model");

        var problems = new List<string>();
        int checkedByOnnx = 0;
        for (int i = 0; i < parsed.Count; i++)
        {
            var reference = references[i]!;
            string expected = Canonical(reference, "ir_version", "opsets", "nodes", "nested_nodes", "initializers", "inputs", "outputs");
            string actual = Canonical(Summary(parsed[i].Model), "ir_version", "opsets", "nodes", "nested_nodes", "initializers", "inputs", "outputs");
            if (expected != actual)
            {
                problems.Add($"{parsed[i].Path}: onnx reads {expected}, ModelProto reads {actual}");
            }

            if (!(bool)reference["equal"]!)
            {
                problems.Add($"{parsed[i].Path}: written back by ModelProto, it loads in onnx as a different message");
            }

            // A rewritten file must pass the checker exactly when the original does (a few test models are invalid on purpose).
            if ((string?)reference["checker"] != (string?)reference["original_checker"])
            {
                problems.Add($"{parsed[i].Path}: checker on the rewritten file: {reference["checker"]}; on the original: {reference["original_checker"]}");
            }

            checkedByOnnx += (string?)reference["original_checker"] == "ok" ? 1 : 0;
        }

        int nodes = parsed.Sum(p => p.Model.Graph.Node.Count);
        int initializers = parsed.Sum(p => p.Model.Graph.Initializer.Count);
        TestContext.WriteLine($"{models.Length} models under {TestDataDirectory}: {nodes} top-level nodes, {initializers} initializers, " +
                              $"{checkedByOnnx} pass onnx.checker; {problems.Count} differences");
        Assert.IsEmpty(problems, string.Join(Environment.NewLine, problems.Take(20)));
    }

    private static string[] FindModels()
    {
        if (!Directory.Exists(TestDataDirectory))
        {
            Assert.Fail($"'{TestDataDirectory}' does not exist. This test reads ONNX's test models from the Debian package libonnx-testdata: " +
                        "run scripts/setup.sh, or 'apt-get install -y libonnx-testdata'.");
        }

        string[] models = [.. Directory.EnumerateFiles(TestDataDirectory, "model.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
        Assert.IsGreaterThan(1000, models.Length, $"libonnx-testdata 1.12 holds 1072 model.onnx files under '{TestDataDirectory}'");
        return models;
    }

    // The same summary as the Python script's, from the exporter's ModelProto.
    private static JsonObject Summary(ModelProto model)
    {
        var graph = model.Graph;
        return new JsonObject
        {
            ["ir_version"] = model.IrVersion,
            ["opsets"] = new JsonArray([.. model.OpsetImport.Select(o => (JsonNode)new JsonArray(o.Domain, o.Version))]),
            ["nodes"] = new JsonArray([.. graph.Node.Select(n => (JsonNode)new JsonArray(n.Domain, n.OpType))]),
            ["nested_nodes"] = NestedNodeCount(graph),
            ["initializers"] = new JsonArray([.. graph.Initializer.Select(t =>
                (JsonNode)new JsonArray(t.Name, t.DataType, new JsonArray([.. t.Dims.Select(d => (JsonNode)d)])))]),
            ["inputs"] = new JsonArray([.. graph.Input.Select(v => (JsonNode)new JsonArray(v.Name, v.Type?.TensorType?.ElemType ?? 0))]),
            ["outputs"] = new JsonArray([.. graph.Output.Select(v => (JsonNode)new JsonArray(v.Name, v.Type?.TensorType?.ElemType ?? 0))]),
        };
    }

    // Nodes inside If, Loop and Scan bodies, at every depth.
    private static int NestedNodeCount(GraphProto graph) =>
        graph.Node.SelectMany(n => n.Attribute)
            .SelectMany(a => a.G is null ? a.Graphs : a.Graphs.Prepend(a.G))
            .Sum(sub => sub.Node.Count + NestedNodeCount(sub));

    private static string Canonical(JsonNode node, params string[] keys) =>
        string.Join(" ", keys.Select(key => $"{key}={node[key]!.ToJsonString(new JsonSerializerOptions { WriteIndented = false })}"));
}

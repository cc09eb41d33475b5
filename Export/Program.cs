using System.CommandLine;
using System.Diagnostics;
using SimpleTransformer.Export;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;

var checkpoint = new Argument<DirectoryInfo>("checkpoint-dir")
{
    Description = $"Checkpoint directory written by training; it must hold {ModelConfig.FileName}, {OnnxExporter.WeightsFileName} and {TokenizerFile.FileName}.",
};
var output = new Option<DirectoryInfo>("--output", "-o")
{
    Description = $"Directory to write {OnnxExporter.ModelFileName}, {ModelConfig.FileName}, {TokenizerFile.FileName} and {GenAiConfig.FileName} to; created when missing, existing files are replaced.",
    Required = true,
    HelpName = "DIR",
};
var threshold = new Option<long?>("--external-data-threshold")
{
    Description = $"Size in bytes from which a weight tensor is stored in {OnnxExporter.ModelFileName}.data (ONNX external data) instead of inside {OnnxExporter.ModelFileName}. Default: every tensor inside {OnnxExporter.ModelFileName}, which holds at most 2 GB.",
    HelpName = "BYTES",
};
threshold.Validators.Add(result =>
{
    if (result.GetValueOrDefault<long?>() is < 0)
    {
        result.AddError("--external-data-threshold is a size in bytes and must be 0 or more.");
    }
});

var graph = new Option<string>("--graph")
{
    Description = "Operators of the graph: 'standard' (opset 17 only, any ONNX runtime) or 'optimized' (ONNX Runtime's fused com.microsoft operators). Default: standard.",
    DefaultValueFactory = _ => "standard",
    HelpName = "standard|optimized",
};
graph.AcceptOnlyFromAmong("standard", "optimized");
var precision = new Option<string>("--precision")
{
    Description = "Element type of the weights and the key-value cache: 'fp32' or 'fp16'. LayerNorm, the residual stream and the logits stay float32. Default: fp32.",
    DefaultValueFactory = _ => "fp32",
    HelpName = "fp32|fp16",
};
precision.AcceptOnlyFromAmong("fp32", "fp16");

var root = new RootCommand("Exports a SimpleTransformer checkpoint as an ONNX model (opset 17) for generation with ONNX Runtime.")
{
    checkpoint,
    output,
    threshold,
    graph,
    precision,
};
root.SetAction(parseResult =>
{
    string source = parseResult.GetRequiredValue(checkpoint).FullName;
    string destination = parseResult.GetRequiredValue(output).FullName;
    var options = new ExportOptions
    {
        ExternalDataThreshold = parseResult.GetValue(threshold),
        Graph = parseResult.GetValue(graph) == "optimized" ? ExportGraph.Optimized : ExportGraph.Standard,
        Precision = parseResult.GetValue(precision) == "fp16" ? ExportPrecision.Float16 : ExportPrecision.Float32,
    };
    var stopwatch = Stopwatch.StartNew();
    try
    {
        OnnxExporter.ExportDirectory(source, destination, options);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidModelConfigException
                                  or InvalidCheckpointException or InvalidTokenizerException or InvalidOperationException)
    {
        Console.Error.WriteLine($"error: export of '{source}' failed: {e.Message}");
        return 1;
    }

    string modelPath = Path.Combine(destination, OnnxExporter.ModelFileName);
    string dataPath = modelPath + ".data";
    string dataNote = File.Exists(dataPath) ? $", {new FileInfo(dataPath).Length} bytes in {Path.GetFileName(dataPath)}" : "";
    Console.WriteLine($"wrote {modelPath} ({options.Graph.ToString().ToLowerInvariant()} graph, {parseResult.GetValue(precision)}, {new FileInfo(modelPath).Length} bytes{dataNote}) in {stopwatch.Elapsed.TotalSeconds:F1} s");
    return 0;
});

return root.Parse(args).Invoke();

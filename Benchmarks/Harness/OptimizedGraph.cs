using Microsoft.ML.OnnxRuntime;
using SimpleTransformer.Export.Onnx;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>The graph ONNX Runtime actually runs: the exported model after its load-time optimizations (fusions, constant folding).</summary>
public static class OptimizedGraph
{
    /// <summary>Returns the node count of each operator type after ONNX Runtime optimizes <paramref name="modelPath"/> at <see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/>.</summary>
    public static IReadOnlyDictionary<string, int> OperatorCounts(string modelPath, string workDirectory)
    {
        string optimized = Path.Combine(workDirectory, $"optimized-{Guid.NewGuid():N}.onnx");
        using (var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            OptimizedModelFilePath = optimized,
            // Saving at this level logs a warning that the file is specific to this machine, which is harmless because it is only read back here.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        })
        using (new InferenceSession(modelPath, options))
        {
        }

        try
        {
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized));
            return model.Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        }
        finally
        {
            File.Delete(optimized);
        }
    }
}

// Dimension letters: B batch, T new tokens, P past length, H heads, D head size.
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>
/// Runs an exported model with ONNX Runtime's profiler on and sums each operator type's kernel time, to show which
/// operators a prefill or a decoding step spends its time in. The profiler adds a fixed cost per node, so the shares
/// are a guide and the absolute times are not reported.
/// </summary>
public static class OrtProfile
{
    /// <summary>
    /// Runs <paramref name="runs"/> times with T = <paramref name="newTokens"/> new tokens after a zero-filled past of
    /// P = <paramref name="pastLength"/> (batch 1) and returns each operator type's share of the summed kernel time, largest first.
    /// </summary>
    public static IReadOnlyList<(string Operator, double Share)> OperatorShares(string modelPath, ModelConfig config, int pastLength, int newTokens, int runs, int threads, string workDirectory)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = threads,
            EnableProfiling = true,
            ProfileOutputPathPrefix = Path.Combine(workDirectory, "onnxruntime-profile"),
        };
        using var session = new InferenceSession(modelPath, options);
        int total = pastLength + newTokens;
        var names = new List<string> { "input_ids", "attention_mask", "position_ids" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, newTokens).Select(t => (long)(3 + t % (config.VocabSize - 3))).ToArray(), [1, newTokens]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, total).ToArray(), [1, total]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Range(pastLength, newTokens).Select(p => (long)p).ToArray(), [1, newTokens]),
        };
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            foreach (string kind in new[] { "key", "value" })
            {
                names.Add($"past_key_values.{layer}.{kind}");
                values.Add(OrtValue.CreateTensorValueFromMemory(new float[config.NumHeads * pastLength * config.HeadSize], [1, config.NumHeads, pastLength, config.HeadSize])); // [B, H, P, D]
            }
        }

        string profile;
        try
        {
            using var runOptions = new RunOptions();
            string[] outputs = [.. session.OutputMetadata.Keys];
            for (int run = 0; run < runs; run++)
            {
                using var results = session.Run(runOptions, names, values, outputs);
            }

            profile = session.EndProfiling();
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }

        try
        {
            return Shares(profile);
        }
        finally
        {
            File.Delete(profile);
        }
    }

    // The profile is a JSON array of trace events. A node's kernel event is named "{node}_kernel_time" and carries its op_name.
    private static List<(string Operator, double Share)> Shares(string profilePath)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(profilePath));
        var byOperator = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var trace in document.RootElement.EnumerateArray())
        {
            if (trace.GetProperty("cat").GetString() == "Node" && trace.GetProperty("name").GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal))
            {
                string op = trace.GetProperty("args").GetProperty("op_name").GetString()!;
                byOperator[op] = byOperator.GetValueOrDefault(op) + trace.GetProperty("dur").GetDouble();
            }
        }

        double sum = byOperator.Values.Sum();
        return [.. byOperator.OrderByDescending(o => o.Value).Select(o => (o.Key, o.Value / sum))];
    }
}

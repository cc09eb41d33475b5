using SimpleTransformer.Benchmarks.Sections;

namespace SimpleTransformer.Benchmarks.Report;

/// <summary>
/// What the measurements of one run mean, written from the run's own numbers: why a target is met or missed, and
/// where the time goes. Each finding appears only when the parts it needs have run.
/// </summary>
public static class Findings
{
    /// <summary>Returns one Markdown paragraph per finding that the run's metrics support.</summary>
    public static IEnumerable<string> Write(BenchmarkRun run)
    {
        var m = run.Metrics;
        var config = run.Model.Config;
        if (Has(m, "latency.library", "latency.torch", "floor.memory", "floor.hot", "floor.dispatch", "floor.decode", "floor.weightBytes", "floor.bandwidth", "floor.nodes"))
        {
            double torch = m["latency.torch"], needed = torch / GenerationSection.TargetSpeedup;
            double warmFloor = m["floor.hot"] + m["floor.dispatch"];
            string verdict = needed < warmFloor
                ? $"That is below even the cache-warm memory floor plus dispatch ({Format.Milliseconds(warmFloor)}), so this graph cannot reach it on this machine."
                : needed < m["latency.library"]
                    ? $"That lies between the cache-warm memory floor plus dispatch ({Format.Milliseconds(warmFloor)}) and the measured latency: reaching it needs the weights to stay in the CPU caches between steps and less work per node, which the optimized graph reduces."
                    : "The measured median meets it.";
            yield return $"**Decoding at batch 1.** The library's step (standard graph) takes {Format.Milliseconds(m["latency.library"])} in the generation comparison. " +
                $"In the floor part it takes {Format.Milliseconds(m["floor.decode"])}, against {Format.Milliseconds(m["floor.memory"])} to read its {m["floor.weightBytes"] / 1e6:F2} MB of weights and the cache " +
                $"once at the large-array bandwidth ({m["floor.bandwidth"] / 1e9:F1} GB/s) and {Format.Milliseconds(m["floor.hot"])} at the cache-warm bandwidth. " +
                $"Dispatching its {m["floor.nodes"]:F0} nodes costs ONNX Runtime about {Format.Milliseconds(m["floor.dispatch"])} more. " +
                $"TorchSharp's cached step reads the same weights and takes {Format.Milliseconds(torch)}, so the difference is TorchSharp's cost per operator. " +
                $"A {GenerationSection.TargetSpeedup}x speed-up needs the library at {Format.Milliseconds(needed)} or less. {verdict}";
        }

        if (Has(m, "latency.optimized", "speedup.optimized.torch"))
        {
            string python = m.TryGetValue("speedup.optimized.python", out double overPython) ? $" and {Format.Ratio(overPython)} faster than eager PyTorch" : "";
            yield return $"**Optimized graph.** The export with ONNX Runtime's fused operators (`ExportOptions.Graph = Optimized`) decodes in " +
                $"{Format.Milliseconds(m["latency.optimized"])} per token at batch 1, {Format.Ratio(m["speedup.optimized.torch"])} faster than TorchSharp with its cache{python}.";
        }

        if (Has(m, "context.slope.library", "floor.bandwidth"))
        {
            double bytesPerToken = 2.0 * 2 * config.NumLayers * config.HiddenSize * sizeof(float);
            double copy = bytesPerToken / m["floor.bandwidth"];
            string share = copy >= m["context.slope.library"]
                ? "so the copy alone can account for the slope (it costs less while part of the cache stays in the CPU caches)"
                : "and attention reading the cache adds the rest";
            yield return $"**Growth with context.** With the cache, a step grows by {Format.Significant(m["context.slope.library"] * 1e6)} µs per context token. " +
                $"The standard graph's `Concat` writes the whole cache into the present output at every step, reading and writing 2 × 2 × L × C × 4 = {bytesPerToken:F0} bytes per " +
                $"context token, about {Format.Significant(copy * 1e6)} µs at the large-array bandwidth, {share}. " +
                (m.TryGetValue("context.slope.ortUncached", out double uncached)
                    ? $"Without the cache every step recomputes all positions, and the slope is {Format.Significant(uncached * 1e6)} µs per context token."
                    : "");
        }

        int longest = run.Settings.PrefillLengths.Max();
        if (Has(m, $"prefill.{longest}.speed", "prefill.softmaxShare"))
        {
            yield return $"**Prefill.** At {longest} prompt tokens the library processes the prompt at {Format.Ratio(m[$"prefill.{longest}.speed"])} TorchSharp's speed. " +
                $"The standard graph computes attention as separate `MatMul`, `Add`, `Softmax` and `MatMul` nodes over the whole [H, T, T] score tensor, and `Softmax` alone takes " +
                $"{Format.Percent(m["prefill.softmaxShare"])} of the kernel time, while TorchSharp's `scaled_dot_product_attention` is one fused kernel that never stores the scores.";
        }

        if (Has(m, "training.utilisation", "breakdown.linear.share", "breakdown.linear.rate", "breakdown.attention.share", "breakdown.attention.rate", "breakdown.elementwise.share"))
        {
            // As fractions of the step: the time the products would need at the square GEMM's rate, and the time of everything else.
            double ideal = m["breakdown.linear.share"] * m["breakdown.linear.rate"] + m["breakdown.attention.share"] * m["breakdown.attention.rate"];
            double other = 1 - m["breakdown.linear.share"] - m["breakdown.attention.share"];
            yield return $"**Training utilisation.** The largest preset reaches {Format.Percent(m["training.utilisation"])} of the square GEMM's rate. " +
                $"Its linear layers take {Format.Percent(m["breakdown.linear.share"])} of a step and run at {Format.Percent(m["breakdown.linear.rate"])} of that rate at the model's shapes, and " +
                $"attention takes {Format.Percent(m["breakdown.attention.share"])} at {Format.Percent(m["breakdown.attention.rate"])}. Together they predict a utilisation of {Format.Percent(ideal)}. " +
                $"Everything else (element-wise operators such as the activation, LayerNorm, dropout and rotary at {Format.Percent(m["breakdown.elementwise.share"])}, the optimizer and autograd bookkeeping) " +
                $"takes {Format.Percent(other)} of the step and performs no counted FLOP, so even with every product at the square GEMM's rate the utilisation would stay below {Format.Percent(ideal / (ideal + other))}.";
        }
    }

    private static bool Has(Dictionary<string, double> metrics, params string[] keys) => keys.All(metrics.ContainsKey);
}

using System.Text;
using SimpleTransformer.Benchmarks.Generation;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Models;
using SimpleTransformer.Benchmarks.Report;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// Decoding latency against two floors measured in the same rounds. The memory floor is the time to read the weights
/// (and the cache traffic of one step) at this machine's read bandwidth. The dispatch floor is ONNX Runtime's fixed
/// cost of one run plus a cost for every node of the decoding graph as ONNX Runtime optimizes it.
/// </summary>
public static class FloorSection
{
    /// <summary>Measures and appends the section to <paramref name="run"/>.</summary>
    public static void Run(BenchmarkRun run)
    {
        var settings = run.Settings;
        var model = run.Model;
        var config = model.Config;
        run.Log("floor: memory bandwidth, ONNX Runtime's run and node costs, decoding latency");

        // Every weight of a matrix product is read once per token, but only one row of each lookup table.
        long weightBytes = sizeof(float) * (BenchmarkModel.MatmulParameters(config) + 2L * config.HiddenSize);
        int meanContext = settings.PromptTokens + settings.NewTokens / 2;

        // A step reads the past keys and values and the graph's Concat writes them, with the new token's, to the present.
        long cacheBytes = 2L * 2 * config.NumLayers * meanContext * config.HiddenSize * sizeof(float);

        string graphDirectory = Path.Combine(run.WorkDirectory, "floor");
        var dram = new MemoryBandwidth(settings.BandwidthBytes, settings.Threads);
        var cacheSized = new MemoryBandwidth(weightBytes, settings.Threads);
        using var addOne = new OrtRunCost(TrivialGraphs.WriteAddChain(graphDirectory, 1, config.HiddenSize), [1, config.HiddenSize], [1, config.HiddenSize], settings.Threads);
        using var addMany = new OrtRunCost(TrivialGraphs.WriteAddChain(graphDirectory, 101, config.HiddenSize), [1, config.HiddenSize], [1, config.HiddenSize], settings.Threads);
        using var library = new OrtCachedGenerator("library", model.StandardDirectory, settings.Threads);
        var prompts = model.Prompts(1, settings.PromptTokens, seed: 11);
        int dramPasses = Math.Max(1, (int)(2L * 1024 * 1024 * 1024 / settings.BandwidthBytes));
        int hotPasses = Math.Max(10, (int)(256L * 1024 * 1024 / weightBytes));

        var samples = Interleaved.Run(
        [
            ("dram", () => dram.ReadBytesPerSecond(dramPasses)),
            ("hot", () => cacheSized.ReadBytesPerSecond(hotPasses)),
            ("run", () => addOne.SecondsPerRun(2000)),
            ("nodes", () => (addMany.SecondsPerRun(200) - addOne.SecondsPerRun(200)) / 100),
            ("decode", () => PerTokenLatency.Measure(library, prompts, settings.NewTokens)),
        ], settings.Rounds, run.Log);

        double dramRate = Statistics.Median(samples["dram"]);
        double hotRate = Statistics.Median(samples["hot"]);
        double runCost = Statistics.Median(samples["run"]);
        double nodeCost = Statistics.Median(samples["nodes"]);
        double decode = Statistics.Median(samples["decode"]);
        var operators = OptimizedGraph.OperatorCounts(Path.Combine(model.StandardDirectory, "model.onnx"), run.WorkDirectory);
        int nodes = operators.Values.Sum();

        var profile = OrtProfile.OperatorShares(Path.Combine(model.StandardDirectory, "model.onnx"), config, meanContext, 1, runs: 50, settings.Threads, run.WorkDirectory);
        double memoryFloor = (weightBytes + cacheBytes) / dramRate;
        double hotFloor = (weightBytes + cacheBytes) / hotRate;
        double dispatch = runCost + nodes * nodeCost;

        var body = new StringBuilder();
        body.AppendLine($"Batch 1, {settings.PromptTokens}-token prompt, {settings.NewTokens} new tokens (mean context {meanContext}), standard graph, {settings.Threads} thread(s). " +
            $"Bandwidth is the SIMD sum of a float array: {Format.Whole(settings.BandwidthBytes >> 20)} MiB (beyond every cache) and one of the weights' size read repeatedly (cache-warm). " +
            $"Medians of {settings.Rounds} interleaved rounds.");
        body.AppendLine();
        var table = new MarkdownTable("quantity", "value");
        table.Add("weights read per token (fp32; one row of each lookup table)", $"{weightBytes / 1e6:F2} MB");
        table.Add($"key/value cache read and written per token at context {meanContext}", $"{cacheBytes / 1e6:F3} MB");
        table.Add("read bandwidth, large array", $"{dramRate / 1e9:F1} GB/s");
        table.Add("read bandwidth, weight-sized array, cache-warm", $"{hotRate / 1e9:F1} GB/s");
        table.Add("memory floor: weights + cache at the large-array bandwidth", Format.Milliseconds(memoryFloor));
        table.Add("memory floor: weights + cache at the cache-warm bandwidth", Format.Milliseconds(hotFloor));
        table.Add("ONNX Runtime: one run of a one-node Add graph (bound inputs)", $"{runCost * 1e6:F2} µs");
        table.Add("ONNX Runtime: each further node (101-node Add chain minus 1-node)", $"{nodeCost * 1e6:F2} µs");
        table.Add("nodes of the decoding graph after ONNX Runtime's optimizations", nodes.ToString());
        table.Add("dispatch floor: one run + nodes × per-node cost", Format.Milliseconds(dispatch));
        table.Add("**library per-token latency**", $"**{Format.Milliseconds(decode)}**");
        table.Add("latency / memory floor (large array)", Format.Ratio(decode / memoryFloor));
        table.Add("latency / (memory floor + dispatch floor)", Format.Ratio(decode / (memoryFloor + dispatch)));
        body.Append(table);
        body.AppendLine();
        body.AppendLine($"Share of kernel time by operator in a decoding step at context {meanContext} (ONNX Runtime's profiler, 50 runs): " +
            string.Join(", ", profile.Take(6).Select(p => $"{p.Operator} {Format.Percent(p.Share)}")) + ".");
        body.AppendLine();
        body.AppendLine("Operators of the optimized decoding graph: " + string.Join(", ", operators.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}")) + ".");
        run.Metrics["floor.weightBytes"] = weightBytes;
        run.Metrics["floor.bandwidth"] = dramRate;
        run.Metrics["floor.memory"] = memoryFloor;
        run.Metrics["floor.hot"] = hotFloor;
        run.Metrics["floor.dispatch"] = dispatch;
        run.Metrics["floor.decode"] = decode;
        run.Metrics["floor.nodes"] = nodes;
        run.Sections.Add(new ReportSection("The floor", body.ToString()));
    }
}

// Shape letters: B batch, T new tokens, P past length, S = P + T, H heads, D head size.

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SimpleTransformer.Export;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// Prints the prefill time and the per-token decode latency of the standard and the optimized graph of a
/// 10.7-million-parameter model on ONNX Runtime's CPU provider. It asserts no time, only that both graphs
/// compute the same logits, because timings depend on the machine and on what else runs on it. It runs after the
/// parallel tests, alone, so other tests in the process do not compete with it.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class GraphSpeedTests
{
    private const int PromptLength = 128;
    private const int DecodeSteps = 64;
    private const int Rounds = 3;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void Speed_TenMillionParameters_PrintsTimes()
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
        using var scratch = new ScratchDirectory("speed");
        var random = new Random(3);
        long[] prompt = [.. Enumerable.Range(0, PromptLength).Select(_ => (long)random.Next(3, config.VocabSize))];

        (ExportGraph Graph, ExportPrecision Precision)[] kinds =
        [
            (ExportGraph.Standard, ExportPrecision.Float32),
            (ExportGraph.Optimized, ExportPrecision.Float32),
            (ExportGraph.Standard, ExportPrecision.Float16),
            (ExportGraph.Optimized, ExportPrecision.Float16),
        ];
        var sessions = new List<(string Name, InferenceSession Session, double LoadMs)>();
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        try
        {
            foreach (var (graph, precision) in kinds)
            {
                string model = ExportFixtures.Export(scratch, config, $"{graph}-{precision}", graph: graph, precision: precision);
                var stopwatch = Stopwatch.StartNew();
                var session = new InferenceSession(Path.Combine(model, "model.onnx"), options);
                sessions.Add(($"{graph} {precision}", session, stopwatch.Elapsed.TotalMilliseconds));
            }

            // Rounds alternate between the models, so a change in the machine's load affects all of them alike.
            var rounds = sessions.Select(_ => new List<Timing>()).ToList();
            for (int round = 0; round < Rounds; round++)
            {
                for (int i = 0; i < sessions.Count; i++)
                {
                    rounds[i].Add(Measure(sessions[i].Session, config, prompt));
                }
            }

            var timings = rounds.Select(r => new Timing(
                Median(r.Select(t => t.PrefillMs)), Median(r.Select(t => t.DecodeMs)),
                Median(r.Select(t => t.PrefillCpuMs)), Median(r.Select(t => t.DecodeCpuMs)), r[^1].LastLogits)).ToList();
            Report(config, sessions.Select(s => (s.Name, s.LoadMs)).ToList(), timings);
            for (int i = 1; i < timings.Count; i++)
            {
                double tolerance = kinds[i].Precision == ExportPrecision.Float16 ? 2e-2 : 1e-3;
                Assert.IsLessThanOrEqualTo(tolerance, MaxDifference(timings[0].LastLogits, timings[i].LastLogits),
                    $"{sessions[i].Name} computes the logits of the standard fp32 graph");
            }
        }
        finally
        {
            foreach (var (_, session, _) in sessions)
            {
                session.Dispose();
            }
        }
    }

    // Wall-clock times and the CPU time of the calling thread for the same calls. With one intra-op thread ONNX Runtime
    // runs every kernel on the calling thread, and on a shared machine its CPU time varies less than wall time.
    private sealed record Timing(double PrefillMs, double DecodeMs, double PrefillCpuMs, double DecodeCpuMs, float[] LastLogits);

    private void Report(ModelConfig config, List<(string Name, double LoadMs)> models, List<Timing> timings)
    {
        TestContext.WriteLine($"{ParameterCount(config)} parameters, rotary; prompt {PromptLength} tokens, then {DecodeSteps} one-token steps to P = {PromptLength + DecodeSteps - 1}; " +
                              $"ONNX Runtime CPU provider, 1 intra-op thread, ORT_ENABLE_ALL; median of {Rounds} rounds; {Environment.ProcessorCount} logical CPUs; " +
                              (OperatingSystem.IsLinux() ? "CPU time of the calling thread" : "no thread CPU time on this OS (shown as 0)"));
        var baseline = timings[0];
        for (int i = 0; i < models.Count; i++)
        {
            var timing = timings[i];
            TestContext.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{models[i].Name,-20} load {models[i].LoadMs,5:F0} ms | prefill {timing.PrefillMs,6:F1} ms wall (speed-up {baseline.PrefillMs / timing.PrefillMs:F2}), " +
                $"{timing.PrefillCpuMs,6:F1} ms CPU ({baseline.PrefillCpuMs / timing.PrefillCpuMs:F2}) | decode {timing.DecodeMs,5:F2} ms/token wall " +
                $"({baseline.DecodeMs / timing.DecodeMs:F2}), {timing.DecodeCpuMs,5:F2} ms CPU ({baseline.DecodeCpuMs / timing.DecodeCpuMs:F2}) | " +
                $"max |logit - standard fp32| {MaxDifference(baseline.LastLogits, timing.LastLogits):E1}"));
        }
    }

    // One prefill of the prompt, then DecodeSteps one-token steps that feed each step's present OrtValues back as
    // the next past without copying them. Returns the prefill time, the median step latency and the CPU time of
    // the prefill and of an average step.
    private static Timing Measure(InferenceSession session, ModelConfig config, long[] prompt)
    {
        bool half = session.InputMetadata["past_key_values.0.key"].ElementDataType == TensorElementType.Float16;
        var empty = EmptyCache(config, half);
        double cpuStart = ThreadCpuMilliseconds();
        var stopwatch = Stopwatch.StartNew();
        var previous = Step(session, prompt, 0, empty);
        double prefillMs = stopwatch.Elapsed.TotalMilliseconds;
        double prefillCpuMs = ThreadCpuMilliseconds() - cpuStart;
        Dispose(empty);

        var decodeTimes = new List<double>();
        cpuStart = ThreadCpuMilliseconds();
        try
        {
            for (int step = 0; step < DecodeSteps; step++)
            {
                long token = 3 + step % (config.VocabSize - 3);
                stopwatch.Restart();
                var next = Step(session, [token], PromptLength + step, [.. previous.Skip(1)]);
                decodeTimes.Add(stopwatch.Elapsed.TotalMilliseconds);
                previous.Dispose();
                previous = next;
            }

            double decodeCpuMs = (ThreadCpuMilliseconds() - cpuStart) / DecodeSteps;
            return new Timing(prefillMs, Median(decodeTimes), prefillCpuMs, decodeCpuMs, previous[0].GetTensorDataAsSpan<float>().ToArray());
        }
        finally
        {
            previous.Dispose();
        }
    }

    // Runs one call on the past tensors given in graph input order; the caller owns and disposes the outputs.
    private static IDisposableReadOnlyCollection<OrtValue> Step(InferenceSession session, long[] tokens, int pastLength, IReadOnlyList<OrtValue> past)
    {
        int total = pastLength + tokens.Length;
        using var inputIds = OrtValue.CreateTensorValueFromMemory(tokens, [1, tokens.Length]);
        using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, total).ToArray(), [1, total]);
        using var positions = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(pastLength, tokens.Length).Select(p => (long)p).ToArray(), [1, tokens.Length]);
        var values = new List<OrtValue> { inputIds, mask, positions };
        values.AddRange(past);

        // Graph inputs after the first three and outputs after logits are past and present pairs, layer by layer.
        using var runOptions = new RunOptions();
        return session.Run(runOptions, session.InputNames, values, session.OutputNames);
    }

    // [1, H, 0, D] for every layer's key and value.
    private static List<OrtValue> EmptyCache(ModelConfig config, bool half)
    {
        long[] shape = [1, config.NumHeads, 0, config.HeadSize];
        return [.. Enumerable.Range(0, 2 * config.NumLayers).Select(_ => half
            ? OrtValue.CreateTensorValueFromMemory(Array.Empty<Float16>(), shape)
            : OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), shape))];
    }

    private static void Dispose(List<OrtValue>? values)
    {
        foreach (var value in values ?? [])
        {
            value.Dispose();
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    // CPU time of the calling thread from clock_gettime(CLOCK_THREAD_CPUTIME_ID) on Linux; 0 elsewhere.
    private static double ThreadCpuMilliseconds()
    {
        const int ThreadCpuTimeClock = 3; // CLOCK_THREAD_CPUTIME_ID in Linux's <time.h>
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        if (ClockGetTime(ThreadCpuTimeClock, out var time) != 0)
        {
            throw new InvalidOperationException($"clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed with errno {Marshal.GetLastPInvokeError()}.");
        }

        return time.Seconds * 1e3 + time.Nanoseconds / 1e6;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime", SetLastError = true)]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    private static long ParameterCount(ModelConfig config) => TensorLayout.Expected(config).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
}

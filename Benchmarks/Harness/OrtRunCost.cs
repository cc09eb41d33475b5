using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>
/// Times <see cref="InferenceSession.RunWithBinding(RunOptions, OrtIoBinding)"/> on a model whose single float input
/// <c>x</c> and output <c>y</c> are bound once, so each run measures ONNX Runtime alone.
/// </summary>
public sealed class OrtRunCost : IDisposable
{
    private readonly InferenceSession _session;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions = new();
    private readonly OrtValue _input;
    private readonly OrtValue _output;

    /// <summary>Loads <paramref name="modelPath"/> with the decoding library's session settings and binds zero-filled tensors.</summary>
    public OrtRunCost(string modelPath, long[] inputShape, long[] outputShape, int threads)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads };
        _session = new InferenceSession(modelPath, options);
        _input = OrtValue.CreateTensorValueFromMemory(new float[inputShape.Aggregate(1L, (a, b) => a * b)], inputShape);
        _output = OrtValue.CreateTensorValueFromMemory(new float[outputShape.Aggregate(1L, (a, b) => a * b)], outputShape);
        _binding = _session.CreateIoBinding();
        _binding.BindInput("x", _input);
        _binding.BindOutput("y", _output);
    }

    /// <summary>Returns the mean seconds of one run over <paramref name="runs"/> back-to-back runs.</summary>
    public double SecondsPerRun(int runs)
    {
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < runs; i++)
        {
            _session.RunWithBinding(_runOptions, _binding);
        }

        return stopwatch.Elapsed.TotalSeconds / runs;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _binding.Dispose();
        _input.Dispose();
        _output.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}

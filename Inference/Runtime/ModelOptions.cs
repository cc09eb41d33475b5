using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>How a model directory is loaded into ONNX Runtime. Every property has a usable default.</summary>
public sealed record ModelOptions
{
    /// <summary>The execution provider, <see cref="Runtime.ExecutionProvider.Cpu"/> by default.</summary>
    public ExecutionProvider ExecutionProvider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>The CUDA device ordinal, used only with <see cref="Runtime.ExecutionProvider.Cuda"/>.</summary>
    public int DeviceId { get; init; }

    /// <summary>
    /// When true and the CUDA provider cannot be added, the model loads on the CPU and a warning is logged.
    /// When false (the default), loading fails with <see cref="ExecutionProviderUnavailableException"/>.
    /// </summary>
    public bool AllowCpuFallback { get; init; }

    /// <summary>
    /// Threads ONNX Runtime uses inside one operator. Null keeps ONNX Runtime's default (one per physical core).
    /// </summary>
    public int? IntraOpThreads { get; init; }

    /// <summary>The graph optimization level, <see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/> by default.</summary>
    public GraphOptimizationLevel GraphOptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>The logger for load, fallback and per-generation messages. Null discards them.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Checks every property and throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid one.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "ExecutionProvider must be Cpu or Cuda.");
        }

        if (DeviceId < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(DeviceId), DeviceId, "DeviceId must be 0 or greater.");
        }

        if (IntraOpThreads is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads,
                "IntraOpThreads must be null (ONNX Runtime's default) or at least 1.");
        }

        if (!Enum.IsDefined(GraphOptimizationLevel))
        {
            throw new ArgumentOutOfRangeException(nameof(GraphOptimizationLevel), GraphOptimizationLevel,
                "GraphOptimizationLevel must be one of ONNX Runtime's defined levels.");
        }
    }
}

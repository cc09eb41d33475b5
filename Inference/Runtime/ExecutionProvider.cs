namespace SimpleTransformer.Inference.Runtime;

/// <summary>The ONNX Runtime execution provider that runs the model.</summary>
public enum ExecutionProvider
{
    /// <summary>ONNX Runtime's CPU provider, in the <c>Microsoft.ML.OnnxRuntime</c> native package.</summary>
    Cpu,

    /// <summary>
    /// NVIDIA CUDA, which needs the <c>Microsoft.ML.OnnxRuntime.Gpu</c> native package and the CUDA 12 and cuDNN 9
    /// libraries on the library search path.
    /// </summary>
    Cuda,
}

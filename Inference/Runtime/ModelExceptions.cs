namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// Thrown when an exported model directory is incomplete or inconsistent: <c>model.onnx</c> is corrupt, or its
/// inputs and outputs, <c>config.json</c> and <c>tokenizer.json</c> do not describe the same model.
/// </summary>
public sealed class InvalidModelException : Exception
{
    /// <summary>Creates the exception with a message that names the file, the value and the fix.</summary>
    public InvalidModelException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// Thrown when the requested execution provider cannot be used, for example CUDA with the CPU-only ONNX Runtime
/// package or without the CUDA libraries.
/// </summary>
public sealed class ExecutionProviderUnavailableException : Exception
{
    /// <summary>Creates the exception with a message that names the provider and what to install.</summary>
    public ExecutionProviderUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
}

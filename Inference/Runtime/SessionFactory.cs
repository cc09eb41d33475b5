using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// Creates the ONNX Runtime session for <c>model.onnx</c> with the requested execution provider, and turns
/// ONNX Runtime's failures into errors that name the file, the provider and the package to install.
/// </summary>
internal static class SessionFactory
{
    private const string CudaProviderName = "CUDAExecutionProvider";

    private const string CudaSetup =
        "Reference the NuGet package Microsoft.ML.OnnxRuntime.Gpu 1.32.0 (in place of Microsoft.ML.OnnxRuntime) in the application, " +
        "and put the CUDA 12 and cuDNN 9 libraries on the library search path (LD_LIBRARY_PATH on Linux, PATH on Windows)";

    private const string NativeSetup =
        "Reference Microsoft.ML.OnnxRuntime 1.32.0 (CPU) or Microsoft.ML.OnnxRuntime.Gpu 1.32.0 (CUDA) in the application; " +
        "this library references only the managed Microsoft.ML.OnnxRuntime.Managed package";

    /// <summary>Creates the session and returns it with the provider it runs on, which differs from the request only after a CPU fallback.</summary>
    public static (InferenceSession Session, ExecutionProvider Provider) Create(string modelPath, ModelOptions options, ILogger logger)
    {
        if (options.ExecutionProvider == ExecutionProvider.Cuda)
        {
            try
            {
                return (CreateSession(modelPath, options, ExecutionProvider.Cuda), ExecutionProvider.Cuda);
            }
            catch (ExecutionProviderUnavailableException e) when (options.AllowCpuFallback)
            {
                logger.LogWarning("Running '{ModelPath}' on the CPU because AllowCpuFallback is set and CUDA is unavailable: {Reason}", modelPath, e.Message);
            }
        }

        return (CreateSession(modelPath, options, ExecutionProvider.Cpu), ExecutionProvider.Cpu);
    }

    private static InferenceSession CreateSession(string modelPath, ModelOptions options, ExecutionProvider provider)
    {
        using var sessionOptions = CreateSessionOptions(options, provider);
        try
        {
            return new InferenceSession(modelPath, sessionOptions);
        }
        catch (OnnxRuntimeException e) when (provider == ExecutionProvider.Cuda && MentionsCuda(e.Message))
        {
            throw new ExecutionProviderUnavailableException(
                $"ONNX Runtime could not start the CUDA execution provider on device {options.DeviceId} for '{modelPath}': {e.Message} {CudaSetup}.", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidModelException(
                $"ONNX Runtime failed to load '{modelPath}': {e.Message} The file may be truncated or not an ONNX model; export the checkpoint again.", e);
        }
    }

    private static SessionOptions CreateSessionOptions(ModelOptions options, ExecutionProvider provider)
    {
        SessionOptions sessionOptions;
        try
        {
            sessionOptions = new SessionOptions();
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new ExecutionProviderUnavailableException($"The ONNX Runtime native library could not be loaded ({e.Message}). {NativeSetup}.", e);
        }

        try
        {
            sessionOptions.GraphOptimizationLevel = options.GraphOptimizationLevel;
            if (options.IntraOpThreads is int threads)
            {
                sessionOptions.IntraOpNumThreads = threads;
            }

            if (provider == ExecutionProvider.Cuda)
            {
                AppendCuda(sessionOptions, options.DeviceId);
            }

            return sessionOptions;
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
    }

    private static void AppendCuda(SessionOptions sessionOptions, int deviceId)
    {
        string[] available = OrtEnv.Instance().GetAvailableProviders();
        if (!available.Contains(CudaProviderName, StringComparer.Ordinal))
        {
            throw new ExecutionProviderUnavailableException(
                $"The CUDA execution provider is not available: the loaded ONNX Runtime offers only {string.Join(", ", available)}. {CudaSetup}.");
        }

        try
        {
            sessionOptions.AppendExecutionProvider_CUDA(deviceId);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            throw new ExecutionProviderUnavailableException(
                $"The CUDA execution provider could not be added for device {deviceId}: {e.Message} {CudaSetup}.", e);
        }
    }

    // ONNX Runtime reports a missing GPU, driver or CUDA library at session creation with a message that names CUDA or
    // cuDNN. Any other failure is taken as a problem with the model file.
    private static bool MentionsCuda(string message) =>
        message.Contains("CUDA", StringComparison.OrdinalIgnoreCase) || message.Contains("cudnn", StringComparison.OrdinalIgnoreCase);
}

using Microsoft.ML.OnnxRuntime;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// A loaded <c>model.onnx</c>: the ONNX Runtime session, its checked interface and the allocator for key/value
/// caches. Every generation shares it: ONNX Runtime allows concurrent runs on one session, and all per-generation
/// state lives in <see cref="CachedDecoder"/>.
/// </summary>
internal sealed class ModelSession : IDisposable
{
    private readonly OrtMemoryInfo? _deviceMemory;
    private readonly OrtAllocator? _deviceAllocator;

    public ModelSession(InferenceSession session, GraphSignature signature, ModelConfig config, ExecutionProvider provider, int deviceId)
    {
        Session = session;
        Signature = signature;
        Config = config;
        Provider = provider;
        if (provider == ExecutionProvider.Cuda)
        {
            // The CUDA provider's device allocator keeps the cache in GPU memory, while inputs and logits stay on the host.
            _deviceMemory = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.Default);
            _deviceAllocator = new OrtAllocator(session, _deviceMemory);
        }
    }

    public InferenceSession Session { get; }

    public GraphSignature Signature { get; }

    public ModelConfig Config { get; }

    public ExecutionProvider Provider { get; }

    /// <summary>The allocator for key/value buffers: the CUDA device allocator, or ONNX Runtime's default CPU allocator.</summary>
    public OrtAllocator CacheAllocator => _deviceAllocator ?? OrtAllocator.DefaultInstance;

    public void Dispose()
    {
        _deviceAllocator?.Dispose();
        _deviceMemory?.Dispose();
        Session.Dispose();
    }
}

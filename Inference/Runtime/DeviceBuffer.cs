using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// A tensor buffer allocated by an ONNX Runtime allocator (host or device memory), over which tensors of any
/// smaller shape can be created without copying. Managed code never reads device memory through it.
/// </summary>
internal sealed class DeviceBuffer : IDisposable
{
    private readonly OrtValue _owner;
    private readonly TensorElementType _elementType;
    private readonly OrtMemoryInfo _memoryInfo;
    private readonly IntPtr _data;
    private readonly long _bytes;

    /// <summary>Allocates a tensor of <paramref name="shape"/> from <paramref name="allocator"/>. Its content is undefined.</summary>
    public DeviceBuffer(OrtAllocator allocator, TensorElementType elementType, long[] shape)
    {
        _elementType = elementType;
        _owner = OrtValue.CreateAllocatedTensorValue(allocator, elementType, shape);
        try
        {
            _memoryInfo = _owner.GetTensorMemoryInfo();
            _bytes = _owner.GetTensorSizeInBytes();
            _data = DataAddress(_owner);
        }
        catch
        {
            _owner.Dispose();
            throw;
        }
    }

    /// <summary>Creates a tensor of <paramref name="shape"/> over the start of the buffer. Dispose it before the buffer.</summary>
    public OrtValue View(long[] shape) =>
        OrtValue.CreateTensorValueWithData(_memoryInfo, _elementType, shape, _data, _bytes);

    /// <inheritdoc/>
    public void Dispose()
    {
        _memoryInfo.Dispose();
        _owner.Dispose();
    }

    // GetTensorMutableRawData wraps the tensor's address (a device address for CUDA) in a span. Only the address is
    // taken from that span, because managed code must not read device memory.
    private static unsafe IntPtr DataAddress(OrtValue value) =>
        (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(value.GetTensorMutableRawData()));
}

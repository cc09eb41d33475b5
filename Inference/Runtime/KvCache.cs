using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// The key/value cache of one generation, kept in memory of the execution provider (host memory for the CPU,
/// device memory for CUDA) so that it never passes through managed arrays.
/// </summary>
/// <remarks>
/// The graph reads <c>past_key_values.{i}.*</c> of shape [B, H, P, D] and writes <c>present.{i}.*</c> of shape
/// [B, H, P + T, D] into a separate tensor. Each layer's keys and values therefore get two buffers of capacity
/// [B, H, S_max, D]: a step binds the front buffer as the past (a contiguous [B, H, P, D] view from offset 0) and
/// the back buffer as the present (a contiguous [B, H, P + T, D] view from offset 0), and <see cref="Advance"/>
/// swaps them. No buffer is allocated after construction.
/// </remarks>
internal sealed class KvCache : IDisposable
{
    private readonly GraphSignature _names;
    private readonly DeviceBuffer[] _front;
    private readonly DeviceBuffer[] _back;
    private readonly OrtValue?[] _past;
    private readonly OrtValue?[] _present;
    private readonly long[] _shape = new long[4];
    private readonly int _layers;
    private readonly int _batch;
    private readonly int _heads;
    private readonly int _headSize;

    /// <summary>
    /// Allocates 4 · layers buffers of [batch, heads, capacity, headSize] from <paramref name="allocator"/>, of the
    /// graph's cache element type (float32 or float16).
    /// </summary>
    public KvCache(OrtAllocator allocator, GraphSignature names, int layers, int batch, int heads, int headSize, int capacity)
    {
        _names = names;
        _layers = layers;
        _batch = batch;
        _heads = heads;
        _headSize = headSize;
        Capacity = capacity;

        var elementType = names.CacheElementType;
        int elementSize = elementType == TensorElementType.Float16 ? 2 : sizeof(float);
        long bytes = (long)batch * heads * capacity * headSize * elementSize;
        if (bytes > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity,
                $"One key/value buffer of [{batch}, {heads}, {capacity}, {headSize}] {elementType} needs {bytes} bytes, more than the 2 GiB one buffer may hold. " +
                "Use a smaller batch, a shorter prompt or fewer new tokens.");
        }

        // Index i < layers is layer i's keys, index layers + i its values.
        _front = new DeviceBuffer[2 * layers];
        _back = new DeviceBuffer[2 * layers];
        _past = new OrtValue?[2 * layers];
        _present = new OrtValue?[2 * layers];
        try
        {
            for (int i = 0; i < _front.Length; i++)
            {
                _front[i] = new DeviceBuffer(allocator, elementType, [batch, heads, capacity, headSize]);
                _back[i] = new DeviceBuffer(allocator, elementType, [batch, heads, capacity, headSize]);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The most tokens one sequence of the cache holds, S_max.</summary>
    public int Capacity { get; }

    /// <summary>Tokens per sequence already in the cache, P.</summary>
    public int Length { get; private set; }

    /// <summary>
    /// Binds the front buffers as the past of length P and the back buffers as the present of length
    /// P + <paramref name="newTokens"/>.
    /// </summary>
    public void Bind(OrtIoBinding binding, int newTokens)
    {
        if (Length + newTokens > Capacity)
        {
            throw new InvalidOperationException(
                $"The key/value cache holds {Capacity} tokens per sequence; {Length} are used and {newTokens} more were requested.");
        }

        for (int i = 0; i < _front.Length; i++)
        {
            // After the first step the past views are the previous step's present views, so only the present is new.
            _past[i] ??= View(_front[i], Length);
            _present[i]?.Dispose();
            _present[i] = View(_back[i], Length + newTokens);
        }

        for (int layer = 0; layer < _layers; layer++)
        {
            binding.BindInput(_names.PastKeys[layer], _past[layer]!);
            binding.BindInput(_names.PastValues[layer], _past[_layers + layer]!);
            binding.BindOutput(_names.PresentKeys[layer], _present[layer]!);
            binding.BindOutput(_names.PresentValues[layer], _present[_layers + layer]!);
        }
    }

    /// <summary>Makes the present just written the past of the next step.</summary>
    public void Advance(int newTokens)
    {
        for (int i = 0; i < _front.Length; i++)
        {
            (_front[i], _back[i]) = (_back[i], _front[i]);
            _past[i]?.Dispose();
            _past[i] = _present[i];
            _present[i] = null;
        }

        Length += newTokens;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        for (int i = 0; i < _front.Length; i++)
        {
            _past[i]?.Dispose();
            _present[i]?.Dispose();
            _front[i]?.Dispose();
            _back[i]?.Dispose();
        }
    }

    // A [B, H, length, D] tensor over the start of a buffer. It does not own the memory.
    private OrtValue View(DeviceBuffer buffer, int length)
    {
        _shape[0] = _batch;
        _shape[1] = _heads;
        _shape[2] = length;
        _shape[3] = _headSize;
        return buffer.View(_shape);
    }
}

using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace SimpleTransformer.Inference.Runtime;

/// <summary>
/// Runs the exported graph for one generation of B sequences: one prefill run over the left-padded prompts
/// (P = 0), then one run per new token that feeds the cache back. All buffers are allocated up front and bound
/// through <see cref="OrtIoBinding"/>, so a decoding step allocates no tensor memory.
/// </summary>
/// <remarks>
/// Dimension letters: B batch, T new tokens in this run, P past length, S = P + T, H heads, D head size, V vocabulary.
/// Host buffers are pinned managed arrays (allocated on the pinned object heap) so ONNX Runtime reads and writes them
/// in place and managed code reads the logits without a copy.
/// </remarks>
internal sealed class CachedDecoder : IDisposable
{
    private readonly ModelSession _model;
    private readonly int _batch;
    private readonly int _vocabulary;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions;
    private readonly KvCache _cache;

    private readonly long[] _inputIds;     // [B, T], T = prompt length for the prefill, 1 afterwards
    private readonly long[] _positionIds;  // [B, T]
    private readonly long[] _rowMasks;     // B rows of stride S_max: the mask of each sequence so far
    private readonly long[] _mask;         // [B, S] contiguous, rebuilt from _rowMasks for each run
    private readonly float[] _logits;      // [B, V]: logits of the last position of each sequence
    private readonly int[] _nextPosition;  // per sequence: the position id of the next token fed

    private readonly long[] _tokenShape = new long[2];
    private readonly long[] _maskShape = new long[2];
    private readonly long[] _logitsShape = new long[3];

    // Whether input_ids, position_ids and logits are bound with the shapes of a decoding step ([B, 1] and [B, 1, V]).
    private bool _stepBound;

    /// <summary>Allocates the cache and host buffers for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> tokens.</summary>
    public CachedDecoder(ModelSession model, int batch, int promptLength, int capacity)
    {
        _model = model;
        _batch = batch;
        _vocabulary = model.Config.VocabSize;
        var config = model.Config;

        _inputIds = GC.AllocateArray<long>(batch * promptLength, pinned: true);
        _positionIds = GC.AllocateArray<long>(batch * promptLength, pinned: true);
        _rowMasks = GC.AllocateArray<long>(batch * capacity, pinned: true);
        _mask = GC.AllocateArray<long>(batch * capacity, pinned: true);
        _logits = GC.AllocateArray<float>(batch * _vocabulary, pinned: true);
        _nextPosition = new int[batch];

        _binding = model.Session.CreateIoBinding();
        _runOptions = new RunOptions();
        try
        {
            _cache = new KvCache(model.CacheAllocator, model.Signature, config.NumLayers, batch, config.NumHeads, config.HeadSize, capacity);
        }
        catch
        {
            _binding.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    /// <summary>Tokens per sequence in the cache, padding included.</summary>
    public int Length => _cache.Length;

    /// <summary>
    /// Runs the prompts, left-padded with <paramref name="padId"/> to the longest one. Position ids are
    /// <c>max(cumsum(mask) - 1, 0)</c>, so each sequence starts at position 0 at its first real token.
    /// </summary>
    public void Prefill(IReadOnlyList<int[]> prompts, int padId, CancellationToken cancellationToken)
    {
        if (_cache.Length != 0)
        {
            throw new InvalidOperationException("Prefill runs once, on an empty cache.");
        }

        int length = prompts.Max(p => p.Length);
        if (prompts.Count != _batch || length * _batch > _inputIds.Length)
        {
            throw new ArgumentException(
                $"Expected {_batch} prompts of at most {_inputIds.Length / _batch} tokens, got {prompts.Count} with up to {length}.", nameof(prompts));
        }

        int capacity = _cache.Capacity;
        for (int row = 0; row < _batch; row++)
        {
            int[] prompt = prompts[row];
            int padding = length - prompt.Length;
            for (int t = 0; t < length; t++)
            {
                bool real = t >= padding;
                _inputIds[row * length + t] = real ? prompt[t - padding] : padId;
                _positionIds[row * length + t] = real ? t - padding : 0;
                _rowMasks[row * capacity + t] = real ? 1 : 0;
            }

            _nextPosition[row] = prompt.Length;
        }

        _binding.ClearBoundInputs();
        _binding.ClearBoundOutputs();

        // The prefill's logits are [B, T, V]. ONNX Runtime allocates them on the host, and only the last position is copied out.
        _binding.BindOutputToDevice(GraphSignature.Logits, OrtMemoryInfo.DefaultInstance);
        BindTokens(length);
        BindMask(length);
        _cache.Bind(_binding, length);
        Run(cancellationToken);

        using (var outputs = _binding.GetOutputValues())
        {
            // Outputs come back in binding order, and the logits were bound first.
            ReadOnlySpan<float> logits = outputs.First().GetTensorDataAsSpan<float>();
            for (int row = 0; row < _batch; row++)
            {
                logits.Slice((row * length + length - 1) * _vocabulary, _vocabulary).CopyTo(_logits.AsSpan(row * _vocabulary, _vocabulary));
            }
        }

        _cache.Advance(length);
    }

    /// <summary>Feeds one token per sequence ([B, 1]) and computes the logits of the next position.</summary>
    public void Step(ReadOnlySpan<int> tokens, CancellationToken cancellationToken)
    {
        if (_cache.Length == 0)
        {
            throw new InvalidOperationException("Run Prefill before the first decoding step.");
        }

        int capacity = _cache.Capacity;
        for (int row = 0; row < _batch; row++)
        {
            _inputIds[row] = tokens[row];
            _positionIds[row] = _nextPosition[row]++;
            _rowMasks[row * capacity + _cache.Length] = 1;
        }

        // From the first step on, input_ids, position_ids and logits keep their shapes and their pinned arrays, which are
        // updated in place, so they are bound once. Each step then rebinds only the mask and the cache views, whose length
        // grows; binding a name again replaces its earlier binding.
        if (!_stepBound)
        {
            _binding.ClearBoundInputs();
            _binding.ClearBoundOutputs();
            _logitsShape[0] = _batch;
            _logitsShape[1] = 1;
            _logitsShape[2] = _vocabulary;
            BindHost(GraphSignature.Logits, _logits, TensorElementType.Float, _logitsShape, sizeof(float), isInput: false);
            BindTokens(1);
            _stepBound = true;
        }

        BindMask(1);
        _cache.Bind(_binding, 1);
        Run(cancellationToken);
        _cache.Advance(1);
    }

    /// <summary>The logits [V] of the last position of sequence <paramref name="row"/>, valid until the next run.</summary>
    public ReadOnlySpan<float> Logits(int row) => _logits.AsSpan(row * _vocabulary, _vocabulary);

    /// <inheritdoc/>
    public void Dispose()
    {
        _cache.Dispose();
        _binding.Dispose();
        _runOptions.Dispose();
    }

    private void BindTokens(int newTokens)
    {
        _tokenShape[0] = _batch;
        _tokenShape[1] = newTokens;
        BindHost(GraphSignature.InputIds, _inputIds, TensorElementType.Int64, _tokenShape, sizeof(long), isInput: true);
        BindHost(GraphSignature.PositionIds, _positionIds, TensorElementType.Int64, _tokenShape, sizeof(long), isInput: true);
    }

    private void BindMask(int newTokens)
    {
        int total = _cache.Length + newTokens;
        int capacity = _cache.Capacity;
        for (int row = 0; row < _batch; row++)
        {
            _rowMasks.AsSpan(row * capacity, total).CopyTo(_mask.AsSpan(row * total, total));
        }

        _maskShape[0] = _batch;
        _maskShape[1] = total;
        BindHost(GraphSignature.AttentionMask, _mask, TensorElementType.Int64, _maskShape, sizeof(long), isInput: true);
    }

    // Wraps a pinned array in a tensor that ONNX Runtime reads or writes in place. The binding keeps its own reference
    // to the tensor, so the managed wrapper can go at once. The array outlives the binding because this object owns both.
    private void BindHost(string name, Array pinned, TensorElementType type, long[] shape, int elementSize, bool isInput)
    {
        IntPtr data = Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0);
        using var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, shape, data, (long)pinned.Length * elementSize);
        if (isInput)
        {
            _binding.BindInput(name, value);
        }
        else
        {
            _binding.BindOutput(name, value);
        }
    }

    private void Run(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var registration = cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, _runOptions);
        try
        {
            _model.Session.RunWithBinding(_runOptions, _binding);
            if (_model.Provider == ExecutionProvider.Cuda)
            {
                // Waits for the device-to-host copy of the logits before managed code reads them.
                _binding.SynchronizeBoundOutputs();
            }
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("Generation was cancelled during a model run.", cancellationToken);
        }
    }
}

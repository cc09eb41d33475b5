using SimpleTransformer.Inference.Runtime;

namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// Drives one generation: the prefill run, then one decoding run per token for every sequence of the batch,
/// until each sequence has stopped. Finished sequences keep a slot in the batch and are fed the padding id;
/// their logits are ignored, and rows never influence each other.
/// </summary>
internal sealed class GenerationLoop : IDisposable
{
    private readonly CachedDecoder _decoder;
    private readonly SequenceState[] _rows;
    private readonly int[] _nextTokens;
    private readonly int _padId;
    private bool _prefilled;

    public GenerationLoop(ModelSession model, int padId, SequenceState[] rows, int maxNewTokens)
    {
        _rows = rows;
        _padId = padId;
        _nextTokens = new int[rows.Length];
        int promptLength = rows.Max(r => r.InputIds.Length);

        // The last sampled token is never fed back, so the cache needs room for prompt + maxNewTokens - 1 tokens.
        _decoder = new CachedDecoder(model, rows.Length, promptLength, promptLength + maxNewTokens - 1);
    }

    /// <summary>The sequences, in prompt order.</summary>
    public IReadOnlyList<SequenceState> Rows => _rows;

    /// <summary>Whether every sequence has stopped.</summary>
    public bool IsFinished
    {
        get
        {
            foreach (var row in _rows)
            {
                if (!row.IsFinished)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Runs the model once and advances every unfinished sequence by one token.</summary>
    public void Step(CancellationToken cancellationToken)
    {
        if (!_prefilled)
        {
            _decoder.Prefill([.. _rows.Select(r => r.InputIds)], _padId, cancellationToken);
            _prefilled = true;
        }
        else
        {
            for (int row = 0; row < _rows.Length; row++)
            {
                _nextTokens[row] = _rows[row].IsFinished ? _padId : _rows[row].LastToken;
            }

            _decoder.Step(_nextTokens, cancellationToken);
        }

        for (int row = 0; row < _rows.Length; row++)
        {
            _rows[row].Advance(_decoder.Logits(row));
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _decoder.Dispose();
}

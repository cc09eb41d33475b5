using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Training.Data;

/// <summary>
/// Cuts batches from encoded text. The batch for a given step and micro-batch depends only on the seed and
/// those two numbers, so a resumed run gets exactly the batches an uninterrupted run would.
/// </summary>
public sealed class BatchSampler
{
    private readonly int[] _stream;
    private readonly int[][] _documents;
    private readonly DataMode _mode;
    private readonly int _rows;
    private readonly int _tokens;
    private readonly int _padId;
    private readonly int _seed;

    /// <summary>Encodes <paramref name="documents"/> and checks that at least one batch fits.</summary>
    public BatchSampler(IReadOnlyList<string> documents, ITextTokenizer tokenizer, DataMode mode, int rows, int tokens, int seed, string splitName)
    {
        _mode = mode;
        _rows = rows;
        _tokens = tokens;
        _padId = tokenizer.PadId;
        _seed = seed;
        _stream = Corpus.EncodeStream(documents, tokenizer);
        _documents = [.. documents.Select(d => (int[])[.. tokenizer.Encode(d), tokenizer.EosId]).Where(d => d.Length >= 2)];
        if (mode == DataMode.Windows && _stream.Length < tokens + 1)
        {
            throw new InvalidDataException(
                $"The {splitName} text has {_stream.Length} tokens, fewer than one sequence of sequence_length + 1 = {tokens + 1}. Use a larger corpus or a smaller sequence_length.");
        }

        if (mode == DataMode.Documents && _documents.Length == 0)
        {
            throw new InvalidDataException($"The {splitName} text has no document of at least 2 tokens. Use a larger corpus.");
        }
    }

    /// <summary>Number of tokens in the encoded stream.</summary>
    public long StreamTokens => _stream.Length;

    /// <summary>Returns the training micro-batch for <paramref name="step"/> and <paramref name="micro"/>.</summary>
    public Batch Sample(long step, int micro)
    {
        var random = new Random(HashCode(_seed, step, micro));
        return _mode == DataMode.Windows
            ? Windows(Enumerable.Range(0, _rows).Select(_ => random.Next(0, _stream.Length - _tokens)).ToArray())
            : Documents(Enumerable.Range(0, _rows).Select(_ => random.Next(0, _documents.Length)).ToArray());
    }

    /// <summary>Returns evaluation batch <paramref name="index"/> of <paramref name="count"/>, spread evenly over the text.</summary>
    public Batch Evaluation(int index, int count)
    {
        if (_mode == DataMode.Windows)
        {
            long span = _stream.Length - _tokens;
            var offsets = Enumerable.Range(0, _rows)
                .Select(r => (int)(span * (index * (long)_rows + r) / Math.Max(1, (long)count * _rows)))
                .ToArray();
            return Windows(offsets);
        }

        var documents = Enumerable.Range(0, _rows).Select(r => (index * _rows + r) % _documents.Length).ToArray();
        return Documents(documents);
    }

    private Batch Windows(int[] offsets)
    {
        var inputs = new long[_rows * _tokens];
        var targets = new long[_rows * _tokens];
        for (int r = 0; r < _rows; r++)
        {
            for (int t = 0; t < _tokens; t++)
            {
                inputs[r * _tokens + t] = _stream[offsets[r] + t];
                targets[r * _tokens + t] = _stream[offsets[r] + t + 1];
            }
        }

        return new Batch(_rows, _tokens, inputs, targets, Enumerable.Repeat(1L, _rows * _tokens).ToArray());
    }

    /// <summary>Right-pads the chosen documents, each cut to at most T + 1 tokens, to the longest in the batch.</summary>
    private Batch Documents(int[] documentIndices)
    {
        var chosen = documentIndices.Select(i => _documents[i].AsSpan(0, Math.Min(_documents[i].Length, _tokens + 1)).ToArray()).ToArray();
        int width = chosen.Max(d => d.Length) - 1;
        var inputs = new long[_rows * width];
        var targets = new long[_rows * width];
        var mask = new long[_rows * width];
        for (int r = 0; r < _rows; r++)
        {
            for (int t = 0; t < width; t++)
            {
                bool real = t + 1 < chosen[r].Length;
                inputs[r * width + t] = real ? chosen[r][t] : _padId;
                targets[r * width + t] = real ? chosen[r][t + 1] : Batch.IgnoreIndex;
                mask[r * width + t] = real ? 1 : 0;
            }
        }

        return new Batch(_rows, width, inputs, targets, mask);
    }

    private static int HashCode(int seed, long step, int micro)
    {
        unchecked
        {
            ulong h = 1469598103934665603UL;
            foreach (long value in new[] { seed, step, micro })
            {
                h = (h ^ (ulong)value) * 1099511628211UL;
            }

            return (int)(h ^ (h >> 32));
        }
    }
}

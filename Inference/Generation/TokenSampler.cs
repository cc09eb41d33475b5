namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// Picks the next token of one sequence from the model's logits: repetition penalty, then greedy choice or
/// temperature, top-k and top-p sampling. Holds scratch buffers of vocabulary size, so a call allocates nothing;
/// one instance serves one sequence and is not thread-safe.
/// </summary>
internal sealed class TokenSampler
{
    /// <summary>Candidates ranked first when searching the top-p nucleus without top-k. The search grows 4x until the nucleus fits.</summary>
    private const int InitialNucleusSearch = 64;

    private readonly GenerationOptions _options;
    private readonly Random _random;
    private readonly float[] _scores;
    private readonly int[] _candidates;

    public TokenSampler(int vocabularySize, GenerationOptions options, Random random)
    {
        _options = options;
        _random = random;
        _scores = new float[vocabularySize];
        _candidates = new int[vocabularySize];
    }

    /// <summary>Returns the next token id for <paramref name="logits"/> [V], penalizing <paramref name="previousIds"/> (distinct ids).</summary>
    public int Next(ReadOnlySpan<float> logits, ReadOnlySpan<int> previousIds)
    {
        if (logits.Length != _scores.Length)
        {
            throw new ArgumentException($"Expected {_scores.Length} logits (the vocabulary size), got {logits.Length}.", nameof(logits));
        }

        logits.CopyTo(_scores);
        ApplyRepetitionPenalty(_scores, previousIds, _options.RepetitionPenalty);
        if (_options.Temperature == 0)
        {
            return ArgMax(_scores);
        }

        float inverseTemperature = 1f / _options.Temperature;
        for (int i = 0; i < _scores.Length; i++)
        {
            _scores[i] *= inverseTemperature;
        }

        return Sample();
    }

    /// <summary>
    /// CTRL's repetition penalty (Keskar et al., 2019, as in Hugging Face's RepetitionPenaltyLogitsProcessor): each
    /// listed token's logit is divided by <paramref name="penalty"/> when positive and multiplied by it otherwise.
    /// </summary>
    public static void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> ids, float penalty)
    {
        if (penalty == 1f)
        {
            return;
        }

        foreach (int id in ids)
        {
            float logit = logits[id];
            logits[id] = logit > 0 ? logit / penalty : logit * penalty;
        }
    }

    /// <summary>Returns the id of the largest logit, the lowest id on a tie. Throws on NaN.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            if (float.IsNaN(logits[id]))
            {
                throw NaNLogit(id);
            }

            if (logits[id] > logits[best])
            {
                best = id;
            }
        }

        return best;
    }

    private int Sample()
    {
        int vocabulary = _scores.Length;
        int topK = _options.TopK > 0 ? Math.Min(_options.TopK, vocabulary) : vocabulary;
        double topP = _options.TopP;
        float max = _scores[ArgMax(_scores)];
        if (float.IsNegativeInfinity(max))
        {
            throw new InvalidOperationException("Every logit is -infinity, so no token can be sampled; the model output is broken.");
        }

        if (topK == vocabulary && topP >= 1)
        {
            return DrawFromAll(max);
        }

        int count;
        if (topK < vocabulary)
        {
            TopCandidates.Select(_scores, _candidates, topK);
            count = topP >= 1 ? topK : NucleusSize(topK, SumWeights(_candidates.AsSpan(0, topK), max), max, topP, allRanked: true);
        }
        else
        {
            // Without top-k the nucleus is usually small: rank a few candidates first and widen only when their
            // probability mass stays below top-p. The normalizer always covers the whole vocabulary.
            double total = SumWeights(max);
            int ranked = Math.Min(InitialNucleusSearch, vocabulary);
            while (true)
            {
                TopCandidates.Select(_scores, _candidates, ranked);
                count = NucleusSize(ranked, total, max, topP, allRanked: ranked == vocabulary);
                if (count > 0)
                {
                    break;
                }

                ranked = (int)Math.Min((long)ranked * 4, vocabulary);
            }
        }

        return DrawFromCandidates(count, max);
    }

    // The number of leading candidates whose probability reaches topP, or 0 when the first `ranked` do not. When every
    // candidate is ranked the count is never 0, even if rounding leaves the sum just below the threshold.
    private int NucleusSize(int ranked, double total, float max, double topP, bool allRanked)
    {
        double threshold = topP * total;
        double cumulative = 0;
        for (int i = 0; i < ranked; i++)
        {
            cumulative += Math.Exp(_scores[_candidates[i]] - max);
            if (cumulative >= threshold)
            {
                return i + 1;
            }
        }

        return allRanked ? ranked : 0;
    }

    private double SumWeights(float max)
    {
        double total = 0;
        foreach (float score in _scores)
        {
            total += Math.Exp(score - max);
        }

        return total;
    }

    private double SumWeights(ReadOnlySpan<int> ids, float max)
    {
        double total = 0;
        foreach (int id in ids)
        {
            total += Math.Exp(_scores[id] - max);
        }

        return total;
    }

    private int DrawFromAll(float max)
    {
        double target = _random.NextDouble() * SumWeights(max);
        double cumulative = 0;
        int last = 0;
        for (int id = 0; id < _scores.Length; id++)
        {
            double weight = Math.Exp(_scores[id] - max);
            if (weight > 0)
            {
                cumulative += weight;
                last = id;
                if (target < cumulative)
                {
                    return id;
                }
            }
        }

        return last;
    }

    private int DrawFromCandidates(int count, float max)
    {
        var ids = _candidates.AsSpan(0, count);
        double target = _random.NextDouble() * SumWeights(ids, max);
        double cumulative = 0;
        foreach (int id in ids)
        {
            cumulative += Math.Exp(_scores[id] - max);
            if (target < cumulative)
            {
                return id;
            }
        }

        // Rounding can leave the target just above the final sum, so the last candidate with weight is taken.
        for (int i = count - 1; i > 0; i--)
        {
            if (Math.Exp(_scores[ids[i]] - max) > 0)
            {
                return ids[i];
            }
        }

        return ids[0];
    }

    private static InvalidOperationException NaNLogit(int id) =>
        new($"The model produced a NaN logit for token id {id}; check the weights and the exported graph (for example, run the parity tests).");
}

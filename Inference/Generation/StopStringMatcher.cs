namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// Finds stop strings in growing text and computes how much of it a stream may emit. Text that could still become
/// the start of a stop string is held back until the next characters decide it.
/// </summary>
internal sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private readonly int _longest;

    public StopStringMatcher(IReadOnlyList<string> stops)
    {
        _stops = [.. stops];
        _longest = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    /// <summary>Whether any stop string is configured.</summary>
    public bool IsEmpty => _stops.Length == 0;

    /// <summary>
    /// Returns the index of the earliest stop string in <paramref name="text"/> that ends after
    /// <paramref name="checkedLength"/> (the length already searched), or -1.
    /// </summary>
    public int Find(ReadOnlySpan<char> text, int checkedLength)
    {
        if (_stops.Length == 0)
        {
            return -1;
        }

        // A match ending past checkedLength starts at or after checkedLength - longest + 1.
        int start = Math.Max(0, checkedLength - _longest + 1);
        int earliest = -1;
        foreach (string stop in _stops)
        {
            int index = text[start..].IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (earliest < 0 || start + index < earliest))
            {
                earliest = start + index;
            }
        }

        return earliest;
    }

    /// <summary>
    /// Returns the length of the longest suffix of <paramref name="text"/> that is a proper prefix of a stop string:
    /// the characters a stream must hold back.
    /// </summary>
    public int PendingSuffixLength(ReadOnlySpan<char> text)
    {
        int pending = 0;
        foreach (string stop in _stops)
        {
            for (int length = Math.Min(stop.Length - 1, text.Length); length > pending; length--)
            {
                if (text[^length..].SequenceEqual(stop.AsSpan(0, length)))
                {
                    pending = length;
                    break;
                }
            }
        }

        return pending;
    }
}

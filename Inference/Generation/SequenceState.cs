using System.Runtime.InteropServices;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// Everything one sequence of a generation owns: its sampler and random generator, the generated ids, the
/// decoded text, stop-string matching and how much text has been streamed. Rows of a batch never share state.
/// </summary>
internal sealed class SequenceState
{
    private readonly ITextTokenizer _tokenizer;
    private readonly GenerationOptions _options;
    private readonly TokenSampler _sampler;
    private readonly StopStringMatcher _stops;
    private readonly List<int> _generated;
    private readonly Utf8TextBuffer _text = new();
    private readonly bool[] _seen;
    private readonly List<int> _seenIds = [];
    private int _streamed;

    /// <param name="tokenizer">Decodes generated ids to bytes.</param>
    /// <param name="options">Validated options.</param>
    /// <param name="inputIds">The ids fed to the model for this prompt.</param>
    /// <param name="promptIds">The ids the prompt encoded to. They are penalized, but an empty prompt's start token is not.</param>
    public SequenceState(ITextTokenizer tokenizer, GenerationOptions options, int[] inputIds, ReadOnlySpan<int> promptIds)
    {
        _tokenizer = tokenizer;
        _options = options;
        InputIds = inputIds;
        _sampler = new TokenSampler(tokenizer.VocabSize, options, options.Seed is int seed ? new Random(seed) : new Random());
        _stops = new StopStringMatcher(options.StopStrings);
        _generated = new List<int>(options.MaxNewTokens);
        _seen = new bool[tokenizer.VocabSize];
        foreach (int id in promptIds)
        {
            MarkSeen(id);
        }
    }

    /// <summary>The ids fed to the model for the prompt, at least one.</summary>
    public int[] InputIds { get; }

    /// <summary>Number of tokens generated so far, the end-of-sequence token excluded.</summary>
    public int GeneratedCount => _generated.Count;

    /// <summary>Whether this sequence has stopped.</summary>
    public bool IsFinished { get; private set; }

    /// <summary>Why the sequence stopped, meaningful once <see cref="IsFinished"/> is true.</summary>
    public StopReason StopReason { get; private set; }

    /// <summary>The most recently accepted token, fed to the model in the next step.</summary>
    public int LastToken { get; private set; }

    /// <summary>Samples the next token from <paramref name="logits"/> [V] and accepts it.</summary>
    public void Advance(ReadOnlySpan<float> logits)
    {
        if (IsFinished)
        {
            return;
        }

        int token = _sampler.Next(logits, CollectionsMarshal.AsSpan(_seenIds));
        Accept(token);
    }

    /// <summary>Appends <paramref name="token"/> and decides whether the sequence stops.</summary>
    public void Accept(int token)
    {
        LastToken = token;
        if (_options.StopOnEndOfSequence && token == _tokenizer.EosId)
        {
            Finish(StopReason.EndOfSequence);
            return;
        }

        _generated.Add(token);
        MarkSeen(token);

        int searched = _text.Length;
        _text.Append(_tokenizer.TokenBytes(token));
        int stopAt = _stops.Find(_text.Text, searched);
        if (stopAt >= 0)
        {
            _text.Truncate(stopAt);
            Finish(StopReason.StopString);
            return;
        }

        if (_generated.Count >= _options.MaxNewTokens)
        {
            Finish(StopReason.MaxNewTokens);
        }
    }

    /// <summary>
    /// Returns the text that became final since the last call: complete characters that cannot be the start of a
    /// stop string. After the sequence finishes, returns everything not yet returned.
    /// </summary>
    public string TakeStreamableText()
    {
        var text = _text.Text;
        int ready = IsFinished ? text.Length : text.Length - _stops.PendingSuffixLength(text);
        if (ready <= _streamed)
        {
            return string.Empty;
        }

        string chunk = text[_streamed..ready].ToString();
        _streamed = ready;
        return chunk;
    }

    /// <summary>Builds the result. Call it after <see cref="IsFinished"/> turns true.</summary>
    public GenerationResult ToResult() =>
        new(_text.Text.ToString(), _generated.ToArray(), InputIds.Length, StopReason);

    private void Finish(StopReason reason)
    {
        if (reason != StopReason.StopString)
        {
            _text.Flush();
        }

        StopReason = reason;
        IsFinished = true;
    }

    private void MarkSeen(int id)
    {
        if ((uint)id < (uint)_seen.Length && !_seen[id])
        {
            _seen[id] = true;
            _seenIds.Add(id);
        }
    }
}

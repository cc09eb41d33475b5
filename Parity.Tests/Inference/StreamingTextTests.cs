using System.Text;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class StreamingTextTests
{
    private const string Mixed = "aä€日🙂 z";

    [TestMethod]
    public void Utf8BufferHoldsIncompleteCharacters()
    {
        var buffer = new Utf8TextBuffer(initialCapacity: 1);
        byte[] bytes = Encoding.UTF8.GetBytes(Mixed);
        var lengths = new List<int>();

        foreach (byte b in bytes)
        {
            buffer.Append([b]);
            lengths.Add(buffer.Length);
            Assert.IsFalse(buffer.Length > 0 && char.IsHighSurrogate(buffer.Text[^1]), "the text ends in half a surrogate pair");
        }

        Assert.AreEqual(Mixed, buffer.Text.ToString());
        // 'ä' is 2 bytes: after its first byte the text is still "a".
        Assert.AreEqual(1, lengths[1]);
        Assert.AreEqual(2, lengths[2]);
    }

    [TestMethod]
    public void Utf8BufferFlushReplacesDanglingBytes()
    {
        var buffer = new Utf8TextBuffer();
        buffer.Append("a"u8);
        buffer.Append([0xE2, 0x82]); // the first two of the three bytes of '€'

        Assert.AreEqual("a", buffer.Text.ToString());
        buffer.Flush();
        Assert.AreEqual("a\uFFFD", buffer.Text.ToString());
    }

    [TestMethod]
    public void StopMatcherFindsEarliestAcrossTokens()
    {
        var matcher = new StopStringMatcher(["END", "ND!"]);

        Assert.AreEqual(-1, matcher.Find("xxEN", 0));
        Assert.AreEqual(2, matcher.Find("xxEND!", 4));
        Assert.AreEqual(3, matcher.Find("xxeND!", 4));
    }

    [TestMethod]
    public void StopMatcherSkipsTextAlreadySearched()
    {
        var matcher = new StopStringMatcher(["ab"]);

        // "ab" at 0 ended before index 5, so a search that starts past it finds only the later one.
        Assert.AreEqual(6, matcher.Find("abxxxxab", 7));
    }

    [TestMethod]
    public void StopMatcherPendingSuffix()
    {
        var matcher = new StopStringMatcher(["<end>", "xyz"]);

        Assert.AreEqual(0, matcher.PendingSuffixLength("hello"));
        Assert.AreEqual(1, matcher.PendingSuffixLength("hello<"));
        Assert.AreEqual(3, matcher.PendingSuffixLength("hello<en"));
        Assert.AreEqual(2, matcher.PendingSuffixLength("abxy"));
    }

    [TestMethod]
    public void SequenceStreamsWholeCharactersFromByteTokens()
    {
        var tokenizer = new ByteTokenizer();
        var state = new SequenceState(tokenizer, new GenerationOptions { MaxNewTokens = 100 }, [ByteTokenizer.Eos], []);
        var pieces = new List<string>();

        foreach (int id in tokenizer.Encode(Mixed))
        {
            state.Accept(id);
            pieces.Add(state.TakeStreamableText());
        }

        state.Accept(ByteTokenizer.Eos);
        pieces.Add(state.TakeStreamableText());

        Assert.AreEqual(Mixed, string.Concat(pieces));
        Assert.IsTrue(pieces.All(p => p.Length == 0 || !char.IsHighSurrogate(p[^1])), "a piece ends in half a surrogate pair");
        Assert.IsTrue(pieces.All(p => !p.Contains('\uFFFD')), "a piece contains U+FFFD, so a character was split");
        var result = state.ToResult();
        Assert.AreEqual(StopReason.EndOfSequence, result.StopReason);
        Assert.AreEqual(Mixed, result.Text);
        Assert.AreEqual(Encoding.UTF8.GetByteCount(Mixed), result.TokenCount, "the end-of-sequence id is not part of the result");
    }

    [TestMethod]
    public void SequenceHoldsBackPossibleStopString()
    {
        var tokenizer = new ByteTokenizer();
        var options = new GenerationOptions { MaxNewTokens = 100, StopStrings = ["€!"] };
        var state = new SequenceState(tokenizer, options, [ByteTokenizer.Eos], []);
        var pieces = new List<string>();

        foreach (int id in tokenizer.Encode("ab€c€!tail"))
        {
            state.Accept(id);
            pieces.Add(state.TakeStreamableText());
            if (state.IsFinished)
            {
                break;
            }
        }

        Assert.AreEqual("ab€c", string.Concat(pieces));
        Assert.IsFalse(pieces.Any(p => p.Contains('€') && p.EndsWith('€')), "a '€' that could start the stop string was streamed before it was decided");
        var result = state.ToResult();
        Assert.AreEqual(StopReason.StopString, result.StopReason);
        Assert.AreEqual("ab€c", result.Text);
        Assert.AreEqual(Encoding.UTF8.GetByteCount("ab€c€!"), result.TokenCount, "the stop string's tokens stay in the ids");
    }

    [TestMethod]
    public void SequenceStopsAtMaxNewTokens()
    {
        var tokenizer = new ByteTokenizer();
        var state = new SequenceState(tokenizer, new GenerationOptions { MaxNewTokens = 3 }, [ByteTokenizer.Eos], []);

        foreach (int id in tokenizer.Encode("abcdef"))
        {
            state.Accept(id);
            if (state.IsFinished)
            {
                break;
            }
        }

        var result = state.ToResult();
        Assert.AreEqual(StopReason.MaxNewTokens, result.StopReason);
        Assert.AreEqual("abc", result.Text);
    }

    [TestMethod]
    public void SequenceIgnoresEosWhenDisabled()
    {
        var tokenizer = new ByteTokenizer();
        var state = new SequenceState(tokenizer, new GenerationOptions { MaxNewTokens = 3, StopOnEndOfSequence = false }, [ByteTokenizer.Eos], []);

        state.Accept(tokenizer.Encode("a")[0]);
        state.Accept(ByteTokenizer.Eos);
        Assert.IsFalse(state.IsFinished);
        state.Accept(tokenizer.Encode("b")[0]);

        var result = state.ToResult();
        Assert.AreEqual(StopReason.MaxNewTokens, result.StopReason);
        Assert.AreEqual("ab", result.Text, "the end-of-sequence token decodes to no text");
        CollectionAssert.AreEqual(new[] { 100, ByteTokenizer.Eos, 101 }, result.TokenIds.ToArray());
    }

    /// <summary>A byte-level tokenizer: ids 0 to 2 are special, id 3 + b is byte b, so characters span several tokens.</summary>
    private sealed class ByteTokenizer : ITextTokenizer
    {
        public const int Eos = 2;

        public string Kind => "bytes";

        public int VocabSize => 259;

        public int PadId => 0;

        public int EosId => Eos;

        public int[] Encode(string text) => [.. Encoding.UTF8.GetBytes(text).Select(b => b + 3)];

        public string Decode(ReadOnlySpan<int> ids) => Encoding.UTF8.GetString([.. ids.ToArray().Where(id => id >= 3).Select(id => (byte)(id - 3))]);

        public byte[] TokenBytes(int id) => id >= 3 ? [(byte)(id - 3)] : [];

        public string ToJson() => throw new NotSupportedException("The byte tokenizer exists only in tests.");
    }
}

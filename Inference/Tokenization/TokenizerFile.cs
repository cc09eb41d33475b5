using System.Text.Json;
using System.Text.Json.Nodes;

namespace SimpleTransformer.Inference.Tokenization;

/// <summary>Reads and writes <c>tokenizer.json</c>, the tokenizer saved beside every model.</summary>
public static class TokenizerFile
{
    /// <summary>The file name inside checkpoint and model directories.</summary>
    public const string FileName = "tokenizer.json";

    /// <summary>Loads the tokenizer saved in <paramref name="directory"/>.</summary>
    public static ITextTokenizer Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Tokenizer not found: '{path}'. Pass a checkpoint or exported model directory.", path);
        }

        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses tokenizer JSON; <paramref name="source"/> names the origin in errors.</summary>
    public static ITextTokenizer Parse(string json, string source = FileName)
    {
        byte[] utf8;
        try
        {
            utf8 = StrictJson.ToUtf8(json);
        }
        catch (JsonException e)
        {
            throw new InvalidTokenizerException($"Invalid tokenizer file '{source}': {e.Message}", e);
        }

        return Parse(utf8, source);
    }

    /// <summary>
    /// Parses the UTF-8 bytes of a tokenizer file (a leading byte order mark is skipped); <paramref name="source"/>
    /// names the origin in errors. Every failure is an <see cref="InvalidTokenizerException"/>.
    /// </summary>
    public static ITextTokenizer Parse(ReadOnlySpan<byte> utf8, string source = FileName)
    {
        JsonObject root;
        try
        {
            root = StrictJson.Parse(utf8) as JsonObject
                ?? throw new InvalidTokenizerException($"Invalid tokenizer file '{source}': expected a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidTokenizerException($"Invalid tokenizer file '{source}': {e.Message}", e);
        }

        string? kind = root["type"]?.GetValueKind() == JsonValueKind.String ? root["type"]!.GetValue<string>() : null;
        return kind switch
        {
            "char" => CharTokenizer.FromJson(root, source),
            "gpt2" => Gpt2Tokenizer.FromJson(root, source),
            _ => throw new InvalidTokenizerException(
                $"Invalid tokenizer file '{source}': 'type' is {root["type"]?.ToJsonString() ?? "missing"}, expected \"char\" or \"gpt2\"."),
        };
    }

    /// <summary>Writes <paramref name="tokenizer"/> as <c>tokenizer.json</c> in <paramref name="directory"/>.</summary>
    public static void Save(ITextTokenizer tokenizer, string directory)
    {
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), tokenizer.ToJson());
    }
}

/// <summary>Thrown when a tokenizer file is malformed or does not match its model.</summary>
public sealed class InvalidTokenizerException : Exception
{
    /// <summary>Creates the exception with a message that names the file and the problem.</summary>
    public InvalidTokenizerException(string message, Exception? inner = null) : base(message, inner) { }
}

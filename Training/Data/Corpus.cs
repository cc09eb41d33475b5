using System.Text;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Training.Data;

/// <summary>
/// A plain-text corpus split into documents at blank lines, with the deterministic split used by every run:
/// document i (0-based) goes to validation when <c>i % 10 == 9</c>, otherwise to training.
/// </summary>
public sealed class Corpus
{
    private Corpus(IReadOnlyList<string> train, IReadOnlyList<string> validation, string path)
    {
        Train = train;
        Validation = validation;
        Path = path;
    }

    /// <summary>Training documents.</summary>
    public IReadOnlyList<string> Train { get; }

    /// <summary>Validation documents.</summary>
    public IReadOnlyList<string> Validation { get; }

    /// <summary>The file the corpus was read from.</summary>
    public string Path { get; }

    /// <summary>All text of the training documents, for building a character vocabulary.</summary>
    public string TrainText => string.Join("\n\n", Train);

    /// <summary>Reads and splits a UTF-8 text file; an empty file or one without validation text is an error.</summary>
    public static Corpus Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Corpus not found: '{path}'. Pass a UTF-8 text file, for example data/brown-sample.txt.", path);
        }

        return FromText(ReadText(path), path);
    }

    // Reads the file as UTF-8 (or UTF-16/32 when it starts with that byte order mark) and rejects invalid bytes,
    // which File.ReadAllText would replace with U+FFFD and train on silently.
    private static string ReadText(string path)
    {
        var strictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        try
        {
            using var reader = new StreamReader(path, strictUtf8, detectEncodingFromByteOrderMarks: true);
            return reader.ReadToEnd();
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException(
                $"The corpus '{path}' is not valid UTF-8 text ({e.Message}). Pass a UTF-8 text file, converting it first if needed (for example with iconv).", e);
        }
    }

    /// <summary>Splits <paramref name="text"/> into documents; <paramref name="source"/> names it in errors.</summary>
    public static Corpus FromText(string text, string source)
    {
        var documents = SplitDocuments(text);
        if (documents.Count == 0)
        {
            throw new InvalidDataException($"The corpus '{source}' is empty. Pass a text file with at least one paragraph.");
        }

        var train = new List<string>();
        var validation = new List<string>();
        for (int i = 0; i < documents.Count; i++)
        {
            (i % 10 == 9 ? validation : train).Add(documents[i]);
        }

        if (validation.Count == 0)
        {
            throw new InvalidDataException(
                $"The corpus '{source}' has {documents.Count} documents; at least 10 are needed, because every 10th document is held out for validation. Separate documents with blank lines.");
        }

        return new Corpus(train, validation, source);
    }

    /// <summary>Splits text at lines that are empty or whitespace only; line endings are normalised to \n.</summary>
    public static List<string> SplitDocuments(string text)
    {
        var documents = new List<string>();
        var current = new List<string>();
        foreach (string rawLine in text.Replace("\r\n", "\n").Split('\n'))
        {
            if (string.IsNullOrWhiteSpace(rawLine))
            {
                Flush();
            }
            else
            {
                current.Add(rawLine);
            }
        }

        Flush();
        return documents;

        void Flush()
        {
            if (current.Count > 0)
            {
                documents.Add(string.Join("\n", current));
                current.Clear();
            }
        }
    }

    /// <summary>Encodes documents into one stream, each followed by the end-of-sequence token.</summary>
    public static int[] EncodeStream(IEnumerable<string> documents, ITextTokenizer tokenizer)
    {
        var ids = new List<int>();
        foreach (string document in documents)
        {
            ids.AddRange(tokenizer.Encode(document));
            ids.Add(tokenizer.EosId);
        }

        return [.. ids];
    }
}

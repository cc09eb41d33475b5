using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;

namespace SimpleTransformer.Inference;

/// <summary>
/// Parses the JSON of checkpoint and model files strictly. System.Text.Json accepts some damaged input at parse
/// time and fails later, from deep inside the caller, with <see cref="ArgumentException"/> or
/// <see cref="InvalidOperationException"/>. This parser rejects those inputs up front with <see cref="JsonException"/>:
/// invalid UTF-8, unpaired surrogates (raw or as <c>\uD800</c> escapes) and duplicate property names.
/// </summary>
public static class StrictJson
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Document options that reject duplicate property names.</summary>
    public static JsonDocumentOptions DocumentOptions { get; } = new() { AllowDuplicateProperties = false };

    /// <summary>
    /// Parses UTF-8 JSON, skipping a leading byte order mark; throws <see cref="JsonException"/> for any malformed
    /// or ambiguous input.
    /// </summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> utf8)
    {
        if (utf8.StartsWith("\uFEFF"u8))
        {
            utf8 = utf8[3..];
        }

        if (!Utf8.IsValid(utf8))
        {
            throw new JsonException("The text is not valid UTF-8.");
        }

        CheckStrings(utf8);
        return JsonNode.Parse(utf8, documentOptions: DocumentOptions);
    }

    /// <summary>Parses JSON text; throws <see cref="JsonException"/> for any malformed or ambiguous input.</summary>
    public static JsonNode? Parse(string text) => Parse(ToUtf8(text));

    /// <summary>
    /// Returns the UTF-8 bytes of <paramref name="text"/>; throws <see cref="JsonException"/> when it contains an
    /// unpaired surrogate, which has no UTF-8 form.
    /// </summary>
    public static byte[] ToUtf8(string text)
    {
        try
        {
            return StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new JsonException($"The text contains an unpaired UTF-16 surrogate at character {e.Index}.", e);
        }
    }

    // Decodes every property name and string once, so that an escaped unpaired surrogate fails here.
    private static void CheckStrings(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.PropertyName or JsonTokenType.String)
            {
                try
                {
                    reader.GetString();
                }
                catch (InvalidOperationException e)
                {
                    throw new JsonException($"The string at byte {reader.TokenStartIndex} cannot be decoded: {e.Message}", e);
                }
            }
        }
    }
}

using System.Text;

namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// The text of one sequence, built from token bytes. A UTF-8 <see cref="Decoder"/> keeps the bytes of an incomplete
/// character until the token that completes it arrives, so the text never ends in half a character. Invalid byte
/// sequences decode to U+FFFD. Growth is amortized: appending allocates only when the buffer doubles.
/// </summary>
internal sealed class Utf8TextBuffer
{
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars;

    public Utf8TextBuffer(int initialCapacity = 256)
    {
        _chars = new char[Math.Max(initialCapacity, 16)];
    }

    /// <summary>Number of decoded characters (UTF-16 code units).</summary>
    public int Length { get; private set; }

    /// <summary>The decoded text so far.</summary>
    public ReadOnlySpan<char> Text => _chars.AsSpan(0, Length);

    /// <summary>Decodes <paramref name="bytes"/>, holding back a trailing incomplete character.</summary>
    public void Append(ReadOnlySpan<byte> bytes) => Decode(bytes, flush: false);

    /// <summary>Ends the text: bytes still held back (an incomplete character) become U+FFFD.</summary>
    public void Flush() => Decode([], flush: true);

    /// <summary>Cuts the text to its first <paramref name="length"/> characters.</summary>
    public void Truncate(int length) => Length = Math.Min(Length, length);

    private void Decode(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _decoder.GetCharCount(bytes, flush);
        if (Length + needed > _chars.Length)
        {
            Array.Resize(ref _chars, Math.Max(_chars.Length * 2, Length + needed));
        }

        Length += _decoder.GetChars(bytes, _chars.AsSpan(Length), flush);
    }
}

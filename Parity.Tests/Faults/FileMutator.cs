using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>
/// Seeded mutations of a file's bytes for fuzzing loaders: bit flips, byte changes, truncation, insertion,
/// deletion and duplication of ranges, JSON token replacements, and for safetensors files edits of the 8-byte
/// header length. Positional mutations hit the JSON region (the whole file for JSON, the header for safetensors)
/// most of the time, because the loaders' logic lives there.
/// </summary>
internal sealed partial class FileMutator(int seed)
{
    private static readonly byte[] InterestingBytes = [0x00, 0xFF, 0x7F, 0x80, (byte)'"', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'-', (byte)'9', (byte)'\\', (byte)'e', (byte)'.'];

    private static readonly string[] InterestingTokens =
    [
        "0", "-1", "1", "3", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
        "18446744073709551616", "4611686018427387904", "1e400", "-1e400", "1.5", "1e-400", "NaN", "\"\"", "\"F16\"", "\"F32\"",
        "\"\\ud800\"", "\"\\u0000\"", "\"gelu, relu\"", "\"1\"", "null", "true", "false", "[]", "{}", "[1,2]", "[-1]", "{\"a\":1}",
        new string('[', 200) + new string(']', 200),
    ];

    private readonly Random _random = new(seed);

    /// <summary>Returns a mutated copy of <paramref name="input"/> and a description of the change.</summary>
    /// <param name="input">The valid file.</param>
    /// <param name="isSafetensors">Whether the file is safetensors (JSON header after an 8-byte length) rather than JSON.</param>
    public (byte[] Bytes, string Description) Mutate(byte[] input, bool isSafetensors)
    {
        var (jsonStart, jsonLength) = isSafetensors ? (8, (int)BinaryPrimitives.ReadInt64LittleEndian(input)) : (0, input.Length);
        int kind = _random.Next(isSafetensors ? 10 : 9);
        return kind switch
        {
            0 => FlipBits(input, Position(input, jsonStart, jsonLength)),
            1 => SetByte(input, Position(input, jsonStart, jsonLength), (byte)_random.Next(256)),
            2 => SetByte(input, Position(input, jsonStart, jsonLength), InterestingBytes[_random.Next(InterestingBytes.Length)]),
            3 => Truncate(input),
            4 => Insert(input, Position(input, jsonStart, jsonLength)),
            5 => Delete(input, Position(input, jsonStart, jsonLength)),
            6 => Duplicate(input, Position(input, jsonStart, jsonLength)),
            7 or 8 => ReplaceToken(input, jsonStart, jsonLength, isSafetensors),
            _ => EditHeaderLength(input),
        };
    }

    private int Position(byte[] input, int jsonStart, int jsonLength) =>
        _random.NextDouble() < 0.8 && jsonLength > 0 ? jsonStart + _random.Next(jsonLength) : _random.Next(Math.Max(1, input.Length));

    private (byte[], string) FlipBits(byte[] input, int position)
    {
        var bytes = (byte[])input.Clone();
        int bits = _random.Next(1, 4);
        for (int i = 0; i < bits; i++)
        {
            bytes[Math.Min(position + i / 2, bytes.Length - 1)] ^= (byte)(1 << _random.Next(8));
        }

        return (bytes, $"flip {bits} bits at byte {position}");
    }

    private static (byte[], string) SetByte(byte[] input, int position, byte value)
    {
        var bytes = (byte[])input.Clone();
        bytes[position] = value;
        return (bytes, $"set byte {position} to 0x{value:X2}");
    }

    private (byte[], string) Truncate(byte[] input)
    {
        int length = _random.Next(input.Length);
        return (input[..length], $"truncate to {length} bytes");
    }

    private (byte[], string) Insert(byte[] input, int position)
    {
        var inserted = new byte[_random.Next(1, 9)];
        _random.NextBytes(inserted);
        return ([.. input.AsSpan(0, position), .. inserted, .. input.AsSpan(position)], $"insert {inserted.Length} random bytes at {position}");
    }

    private (byte[], string) Delete(byte[] input, int position)
    {
        int length = Math.Min(_random.Next(1, 17), input.Length - position);
        return ([.. input.AsSpan(0, position), .. input.AsSpan(position + length)], $"delete {length} bytes at {position}");
    }

    private (byte[], string) Duplicate(byte[] input, int position)
    {
        int length = Math.Min(_random.Next(1, 65), input.Length - position);
        var range = input.AsSpan(position, length);
        return ([.. input.AsSpan(0, position + length), .. range, .. input.AsSpan(position + length)], $"duplicate {length} bytes at {position}");
    }

    /// <summary>
    /// Replaces one number, string or literal of the JSON with an interesting token. For safetensors, the header
    /// length is updated to the new header size, so the loader gets past the length check to the entries.
    /// </summary>
    private (byte[], string) ReplaceToken(byte[] input, int jsonStart, int jsonLength, bool isSafetensors)
    {
        string json = Encoding.UTF8.GetString(input, jsonStart, jsonLength);
        var tokens = JsonToken().Matches(json);
        if (tokens.Count == 0)
        {
            return FlipBits(input, jsonStart);
        }

        var token = tokens[_random.Next(tokens.Count)];
        string replacement = InterestingTokens[_random.Next(InterestingTokens.Length)];
        string edited = json[..token.Index] + replacement + json[(token.Index + token.Length)..];
        byte[] editedBytes = Encoding.UTF8.GetBytes(edited);
        string description = $"replace {Shorten(token.Value)} at character {token.Index} by {Shorten(replacement)}";
        if (!isSafetensors)
        {
            return (editedBytes, description);
        }

        var bytes = new byte[8 + editedBytes.Length + input.Length - jsonStart - jsonLength];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, editedBytes.Length);
        editedBytes.CopyTo(bytes, 8);
        input.AsSpan(jsonStart + jsonLength).CopyTo(bytes.AsSpan(8 + editedBytes.Length));
        return (bytes, description + " (header length updated)");
    }

    private (byte[], string) EditHeaderLength(byte[] input)
    {
        var bytes = (byte[])input.Clone();
        long length = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        long[] candidates = [length + _random.Next(-8, 9), 0, -1, long.MaxValue, input.Length, input.Length - 8, 100_000_001, _random.NextInt64()];
        long value = candidates[_random.Next(candidates.Length)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return (bytes, $"set the header length to {value}");
    }

    private static string Shorten(string text) => text.Length <= 24 ? text : text[..21] + "...";

    [GeneratedRegex(@"""(?:[^""\\]|\\.)*""|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\btrue\b|\bfalse\b|\bnull\b")]
    private static partial Regex JsonToken();
}

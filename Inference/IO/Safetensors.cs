using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SimpleTransformer.Inference;

/// <summary>A named fp32 tensor held in managed memory: the unit of safetensors files.</summary>
/// <param name="Name">Tensor name, for example <c>layers.0.attn.q_proj.weight</c>.</param>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Data">Row-major values; the length equals the product of <paramref name="Shape"/>.</param>
public sealed record NamedTensor(string Name, long[] Shape, float[] Data)
{
    /// <summary>Number of elements implied by the shape.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Returns the index of the first NaN or infinite value, or -1 when every value is finite.</summary>
    public long IndexOfNonFinite()
    {
        for (long i = 0; i < Data.LongLength; i++)
        {
            if (!float.IsFinite(Data[i]))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header mapping
/// each tensor name to <c>dtype</c>, <c>shape</c> and <c>data_offsets</c>, then the raw little-endian data.
/// Only F32 tensors are supported. Format reference: huggingface/safetensors README.
/// </summary>
public static class Safetensors
{
    /// <summary>The largest header accepted, matching the reference implementation's 100 MB limit.</summary>
    private const long MaxHeaderBytes = 100_000_000;

    /// <summary>Writes tensors in the order given, with optional string metadata, atomically.</summary>
    public static void Save(string path, IEnumerable<NamedTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                meta[key] = value;
            }

            header["__metadata__"] = meta;
        }

        long offset = 0;
        foreach (var tensor in list)
        {
            if (tensor.ElementCount != tensor.Data.LongLength)
            {
                throw new ArgumentException(
                    $"Tensor '{tensor.Name}' has shape [{string.Join(", ", tensor.Shape)}] but {tensor.Data.LongLength} values.");
            }

            long bytes = tensor.Data.LongLength * sizeof(float);
            header[tensor.Name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray([.. tensor.Shape.Select(d => (JsonNode?)d)]),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }

        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padding = (8 - headerBytes.Length % 8) % 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)(headerBytes.Length + padding));
            stream.Write(length);
            stream.Write(headerBytes);
            for (int i = 0; i < padding; i++)
            {
                stream.WriteByte((byte)' ');
            }

            foreach (var tensor in list)
            {
                WriteFloats(stream, tensor.Data);
            }
        });
    }

    /// <summary>Reads every tensor of a file; throws <see cref="InvalidCheckpointException"/> naming the file and the problem.</summary>
    public static IReadOnlyDictionary<string, NamedTensor> Load(string path) => LoadWithMetadata(path).Tensors;

    /// <summary>
    /// Reads every tensor and the <c>__metadata__</c> map of a file. The header is checked before any tensor data is
    /// read: every entry must be F32, its shape must match its byte range, and the byte ranges must cover the data
    /// section exactly, in order and without gaps or overlaps, as the reference implementation requires. So no array
    /// larger than the file is allocated, and truncated or padded files are rejected.
    /// </summary>
    public static (IReadOnlyDictionary<string, NamedTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) LoadWithMetadata(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Weights file not found: '{path}'.", path);
        }

        using var stream = File.OpenRead(path);
        long fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw Invalid(path, $"the file is {fileLength} bytes, shorter than the 8-byte header length");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)Math.Min(MaxHeaderBytes, fileLength - 8))
        {
            throw Invalid(path, $"the header length {headerLength} exceeds the file size {fileLength} (truncated or not a safetensors file)");
        }

        byte[] headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = ParseHeader(path, headerBytes);

        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        var metadata = ParseMetadata(path, header);
        var entries = new List<(string Name, long[] Shape, long Begin, long End)>();
        foreach (var (name, node) in header)
        {
            if (name != MetadataKey)
            {
                var (shape, begin, end) = ParseEntry(path, name, node, dataLength);
                entries.Add((name, shape, begin, end));
            }
        }

        CheckCoverage(path, entries, dataLength);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Safetensors files are little-endian; big-endian hosts are not supported.");
        }

        var tensors = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (var (name, shape, begin, end) in entries)
        {
            var data = new float[(end - begin) / sizeof(float)];
            stream.Position = dataStart + begin;
            stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
            tensors[name] = new NamedTensor(name, shape, data);
        }

        return (tensors, metadata);
    }

    private const string MetadataKey = "__metadata__";

    private static JsonObject ParseHeader(string path, byte[] headerBytes)
    {
        try
        {
            return StrictJson.Parse(headerBytes) as JsonObject ?? throw Invalid(path, "the header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw Invalid(path, $"the header is not valid JSON ({e.Message})");
        }
    }

    private static Dictionary<string, string> ParseMetadata(string path, JsonObject header)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (header[MetadataKey])
        {
            case null:
                return metadata;
            case JsonObject meta:
                foreach (var (key, value) in meta)
                {
                    metadata[key] = value?.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value?.ToJsonString() ?? "";
                }

                return metadata;
            default:
                throw Invalid(path, $"'{MetadataKey}' is {header[MetadataKey]!.GetValueKind()}, expected an object of strings");
        }
    }

    // The reference implementation requires the byte ranges, ordered by start, to tile the data section.
    private static void CheckCoverage(string path, List<(string Name, long[] Shape, long Begin, long End)> entries, long dataLength)
    {
        long expectedBegin = 0;
        foreach (var (name, _, begin, end) in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (begin != expectedBegin)
            {
                string problem = begin < expectedBegin ? "overlaps the previous tensor" : $"leaves a gap after byte {expectedBegin}";
                throw Invalid(path, $"tensor '{name}' starts at data byte {begin} and {problem} (the header is corrupt)");
            }

            expectedBegin = end;
        }

        if (expectedBegin != dataLength)
        {
            throw Invalid(path, $"the tensors cover {expectedBegin} data bytes but the file has {dataLength} after the header (the file is truncated, padded or corrupt)");
        }
    }

    private static (long[] Shape, long Begin, long End) ParseEntry(string path, string name, JsonNode? node, long dataLength)
    {
        if (node is not JsonObject entry)
        {
            throw Invalid(path, $"tensor '{name}' has no header object");
        }

        string? dtype = entry["dtype"]?.GetValueKind() == JsonValueKind.String ? entry["dtype"]!.GetValue<string>() : null;
        if (dtype != "F32")
        {
            throw Invalid(path, $"tensor '{name}' has dtype {dtype ?? "missing"}, expected F32 (convert the weights to float32)");
        }

        if (entry["shape"] is not JsonArray shapeArray || entry["data_offsets"] is not JsonArray offsets || offsets.Count != 2)
        {
            throw Invalid(path, $"tensor '{name}' lacks a 'shape' array or a two-element 'data_offsets' array");
        }

        if (!shapeArray.All(IsInteger) || !offsets.All(IsInteger))
        {
            throw Invalid(path, $"tensor '{name}' has a shape or data_offsets entry that is not an integer");
        }

        long[] shape = [.. shapeArray.Select(d => d!.GetValue<long>())];
        long begin = offsets[0]!.GetValue<long>();
        long end = offsets[1]!.GetValue<long>();
        if (begin < 0 || end < begin || end > dataLength)
        {
            throw Invalid(path, $"tensor '{name}' has data_offsets [{begin}, {end}] outside the {dataLength} data bytes (the file may be truncated)");
        }

        // Every dimension is bounded by the byte count before multiplying, so the product cannot overflow.
        long bytes = end - begin;
        long elements = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0 || (dimension > 0 && elements > bytes / sizeof(float) / dimension))
            {
                elements = -1;
                break;
            }

            elements *= dimension;
        }

        if (elements < 0 || elements * sizeof(float) != bytes)
        {
            throw Invalid(path, $"tensor '{name}' has shape [{string.Join(", ", shape)}] but data_offsets [{begin}, {end}] span {bytes} bytes, not 4 bytes per element");
        }

        if (elements > Array.MaxLength)
        {
            throw Invalid(path, $"tensor '{name}' has {elements} elements, more than the maximum array length {Array.MaxLength}");
        }

        return (shape, begin, end);
    }

    private static bool IsInteger(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out _);

    private static void WriteFloats(Stream stream, float[] data)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Safetensors files are little-endian; big-endian hosts are not supported.");
        }

        stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
    }

    private static InvalidCheckpointException Invalid(string path, string problem) =>
        new($"Invalid safetensors file '{path}': {problem}.");
}

/// <summary>Thrown when a checkpoint file is truncated, corrupt, of the wrong format or does not match its configuration.</summary>
public sealed class InvalidCheckpointException : Exception
{
    /// <summary>Creates the exception with a message that names the file and the problem.</summary>
    public InvalidCheckpointException(string message, Exception? inner = null) : base(message, inner) { }
}

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

    /// <summary>Reads every tensor and the <c>__metadata__</c> map of a file.</summary>
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
        JsonObject header;
        try
        {
            header = JsonNode.Parse(headerBytes) as JsonObject ?? throw Invalid(path, "the header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw Invalid(path, $"the header is not valid JSON ({e.Message})");
        }

        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                {
                    foreach (var (key, value) in meta)
                    {
                        metadata[key] = value?.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value?.ToJsonString() ?? "";
                    }
                }

                continue;
            }

            var (shape, begin, end) = ParseEntry(path, name, node, dataLength);
            var data = new float[(end - begin) / sizeof(float)];
            stream.Position = dataStart + begin;
            stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
            if (!BitConverter.IsLittleEndian)
            {
                throw new PlatformNotSupportedException("Safetensors files are little-endian; big-endian hosts are not supported.");
            }

            tensors[name] = new NamedTensor(name, shape, data);
        }

        return (tensors, metadata);
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

        long[] shape;
        long begin, end;
        try
        {
            shape = [.. shapeArray.Select(d => d!.GetValue<long>())];
            begin = offsets[0]!.GetValue<long>();
            end = offsets[1]!.GetValue<long>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw Invalid(path, $"tensor '{name}' has a non-integer shape or offset");
        }

        long elements = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0 || (dimension > 0 && elements > long.MaxValue / dimension))
            {
                throw Invalid(path, $"tensor '{name}' has an invalid shape [{string.Join(", ", shape)}]");
            }

            elements *= dimension;
        }

        if (begin < 0 || end < begin || end > dataLength || end - begin != elements * sizeof(float))
        {
            throw Invalid(path, $"tensor '{name}' has data_offsets [{begin}, {end}] that do not match shape [{string.Join(", ", shape)}] within {dataLength} data bytes (the file may be truncated)");
        }

        if (elements > Array.MaxLength)
        {
            throw Invalid(path, $"tensor '{name}' has {elements} elements, more than one managed array holds");
        }

        return (shape, begin, end);
    }

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

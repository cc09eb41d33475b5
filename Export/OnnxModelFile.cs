using System.Globalization;
using Google.Protobuf;
using SimpleTransformer.Export.Onnx;
using SimpleTransformer.Inference;

namespace SimpleTransformer.Export;

/// <summary>
/// Writes a <see cref="ModelProto"/> to disk, optionally moving large initializers to a side file as ONNX
/// external data (<c>data_location = EXTERNAL</c> with <c>location</c>, <c>offset</c> and <c>length</c>
/// entries). Both files are written atomically, the data file first.
/// </summary>
public static class OnnxModelFile
{
    /// <summary>Offset alignment of each tensor in the external data file, in bytes (one page on common systems).</summary>
    public const int ExternalDataAlignment = 4096;

    /// <summary>
    /// The maximum number of initializer bytes kept inside the model file. Protobuf messages are limited to 2 GiB, and ONNX's
    /// own tools stop at 2,000,000,000 bytes.
    /// </summary>
    public const long MaxInlineBytes = 2_000_000_000;

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/>. Initializers of at least
    /// <paramref name="externalDataThreshold"/> bytes go to <c>{file name}.data</c> in the same directory;
    /// with null, every initializer stays inline and a leftover data file from an earlier export is deleted.
    /// <paramref name="model"/> itself is not changed.
    /// </summary>
    public static void Save(ModelProto model, string path, long? externalDataThreshold)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (externalDataThreshold is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(externalDataThreshold), externalDataThreshold,
                "The external data threshold is a size in bytes and must be 0 or more (0 moves every tensor to the data file).");
        }

        string dataName = Path.GetFileName(path) + ".data";
        string dataPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, dataName);

        var copy = model.Clone();
        var external = MoveToExternal(copy.Graph.Initializer, dataName, externalDataThreshold);

        long inlineBytes = copy.Graph.Initializer.Sum(t => (long)t.RawData.Length);
        if (inlineBytes > MaxInlineBytes)
        {
            throw new InvalidOperationException(
                $"'{path}' would hold {inlineBytes} bytes of weights, more than protobuf's limit of {MaxInlineBytes} bytes. " +
                "Set an external data threshold (CLI: --external-data-threshold 1048576) to move large tensors to " + dataName + ".");
        }

        if (external.Count > 0)
        {
            AtomicFile.Write(dataPath, stream => WriteExternalData(stream, external));
        }

        AtomicFile.Write(path, copy.WriteTo);
        if (external.Count == 0 && File.Exists(dataPath))
        {
            File.Delete(dataPath);
        }
    }

    private static List<(ByteString Data, long Offset)> MoveToExternal(
        IEnumerable<TensorProto> initializers, string dataName, long? threshold)
    {
        var external = new List<(ByteString Data, long Offset)>();
        if (threshold is not long minimumBytes)
        {
            return external;
        }

        long offset = 0;
        foreach (var tensor in initializers.Where(t => t.RawData.Length > 0 && t.RawData.Length >= minimumBytes))
        {
            offset = (offset + ExternalDataAlignment - 1) / ExternalDataAlignment * ExternalDataAlignment;
            external.Add((tensor.RawData, offset));
            tensor.DataLocation = TensorProto.Types.DataLocation.External;
            tensor.ExternalData.Add(Entry("location", dataName));
            tensor.ExternalData.Add(Entry("offset", offset.ToString(CultureInfo.InvariantCulture)));
            tensor.ExternalData.Add(Entry("length", tensor.RawData.Length.ToString(CultureInfo.InvariantCulture)));
            offset += tensor.RawData.Length;
            tensor.ClearRawData();
        }

        return external;
    }

    private static void WriteExternalData(Stream stream, List<(ByteString Data, long Offset)> tensors)
    {
        long position = 0;
        foreach (var (data, offset) in tensors)
        {
            for (; position < offset; position++)
            {
                stream.WriteByte(0);
            }

            stream.Write(data.Span);
            position += data.Length;
        }
    }

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };
}

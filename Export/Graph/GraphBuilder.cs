using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using SimpleTransformer.Export.Onnx;
using DataType = SimpleTransformer.Export.Onnx.TensorProto.Types.DataType;

namespace SimpleTransformer.Export.Graph;

/// <summary>
/// Assembles one ONNX graph: inputs, outputs, initializers, shared constants and nodes, in the order they
/// are added so that the same calls always produce the same bytes. Every node gets a unique hierarchical
/// name such as <c>/layers.3/attn/q_proj/MatMul</c>, and its outputs are named <c>{node}/output_{k}</c>
/// unless the caller names them. An empty input or output name marks an optional operator argument that is left
/// out. Wiring mistakes (an undefined input, a name used twice) throw at once.
/// </summary>
internal sealed class GraphBuilder
{
    /// <summary>The operator domain of ONNX Runtime's contrib operators.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    private readonly GraphProto _graph;
    private readonly List<string> _contribOperators = [];
    private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);

    public GraphBuilder(string graphName)
    {
        _graph = new GraphProto { Name = graphName };
    }

    /// <summary>The graph built so far.</summary>
    public GraphProto Graph => _graph;

    /// <summary>The <c>com.microsoft</c> operator types used so far, in order of first use.</summary>
    public IReadOnlyList<string> ContribOperators => _contribOperators;

    /// <summary>Declares a graph input with a typed, possibly symbolic shape.</summary>
    public string Input(string name, DataType type, params TensorShapeProto.Types.Dimension[] shape)
    {
        Define(name);
        _graph.Input.Add(ValueInfo(name, type, shape));
        return name;
    }

    /// <summary>Declares an already computed value as a graph output.</summary>
    public void Output(string name, DataType type, params TensorShapeProto.Types.Dimension[] shape)
    {
        if (!_values.Contains(name))
        {
            throw new InvalidOperationException($"Graph output '{name}' is not computed by any node of graph '{_graph.Name}'.");
        }

        _graph.Output.Add(ValueInfo(name, type, shape));
    }

    /// <summary>A dimension named <paramref name="name"/> whose size is chosen at run time.</summary>
    public static TensorShapeProto.Types.Dimension Symbolic(string name) => new() { DimParam = name };

    /// <summary>A dimension of fixed size.</summary>
    public static TensorShapeProto.Types.Dimension Fixed(long size) => new() { DimValue = size };

    /// <summary>Adds a float32 initializer holding a copy of <paramref name="data"/> (row-major).</summary>
    public string Initializer(string name, long[] shape, ReadOnlySpan<float> data) =>
        Initializer(name, shape, data, DataType.Float);

    /// <summary>
    /// Adds an initializer of element type <paramref name="type"/> (float32, or float16 rounded to nearest) holding
    /// <paramref name="data"/> (row-major).
    /// </summary>
    public string Initializer(string name, long[] shape, ReadOnlySpan<float> data, DataType type)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != data.Length)
        {
            throw new ArgumentException(
                $"Initializer '{name}' has shape [{string.Join(", ", shape)}] ({count} values) but {data.Length} values were given.",
                nameof(data));
        }

        return type switch
        {
            DataType.Float => AddInitializer(name, DataType.Float, shape, MemoryMarshal.AsBytes(data)),
            DataType.Float16 => AddInitializer(name, DataType.Float16, shape, MemoryMarshal.AsBytes(ToHalf(data).AsSpan())),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, $"Initializer '{name}': only float32 and float16 weights are supported."),
        };
    }

    /// <summary>An int64 constant of shape [values.Length], shared by every node that uses the same values.</summary>
    public string Int64s(params long[] values) =>
        Constant($"/constants/int64/[{string.Join(",", values)}]", DataType.Int64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()));

    /// <summary>Adds an int64 initializer of shape [values.Length] named <paramref name="name"/>.</summary>
    public string Int64Initializer(string name, params long[] values) =>
        AddInitializer(name, DataType.Int64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()));

    /// <summary>An int64 scalar constant (shape []), shared by every node that uses the same value.</summary>
    public string Int64(long value) =>
        Constant($"/constants/int64/{value}", DataType.Int64, [], MemoryMarshal.AsBytes(new[] { value }.AsSpan()));

    /// <summary>A float32 scalar constant (shape []), shared by every node that uses the same value.</summary>
    public string Float(float value) =>
        Constant($"/constants/float/{value.ToString("R", CultureInfo.InvariantCulture)}", DataType.Float, [],
            MemoryMarshal.AsBytes(new[] { value }.AsSpan()));

    /// <summary>A float16 scalar constant (shape []), shared by every node that uses the same value.</summary>
    public string Float16(float value) =>
        Constant($"/constants/float16/{value.ToString("R", CultureInfo.InvariantCulture)}", DataType.Float16, [],
            MemoryMarshal.AsBytes(new[] { (Half)value }.AsSpan()));

    /// <summary>A scalar constant of element type <paramref name="type"/>, float32 or float16.</summary>
    public string Scalar(float value, DataType type) => type switch
    {
        DataType.Float => Float(value),
        DataType.Float16 => Float16(value),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Scalar constants are float32 or float16."),
    };

    /// <summary>Adds a node with one output, named <c>{name}/output_0</c>, and returns that output's name.</summary>
    public string Node(string name, string opType, string[] inputs, params AttributeProto[] attributes) =>
        Node(name, opType, inputs, [name + "/output_0"], attributes)[0];

    /// <summary>Adds a node with <paramref name="outputCount"/> outputs named <c>{name}/output_{k}</c>.</summary>
    public string[] Node(string name, string opType, string[] inputs, int outputCount, params AttributeProto[] attributes) =>
        Node(name, opType, inputs, [.. Enumerable.Range(0, outputCount).Select(k => $"{name}/output_{k}")], attributes);

    /// <summary>Adds a node whose outputs carry the given names (graph outputs such as <c>logits</c>).</summary>
    public string[] Node(string name, string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes) =>
        AddNode("", name, opType, inputs, outputs, attributes);

    /// <summary>
    /// Adds a node of ONNX Runtime's <c>com.microsoft</c> domain whose outputs carry the given names; an empty
    /// output name leaves that optional output out.
    /// </summary>
    public string[] ContribNode(string name, string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        if (!_contribOperators.Contains(opType))
        {
            _contribOperators.Add(opType);
        }

        return AddNode(MicrosoftDomain, name, opType, inputs, outputs, attributes);
    }

    /// <summary>Adds a <c>com.microsoft</c> node with one output, named <c>{name}/output_0</c>, and returns that output's name.</summary>
    public string ContribNode(string name, string opType, string[] inputs, params AttributeProto[] attributes) =>
        ContribNode(name, opType, inputs, [name + "/output_0"], attributes)[0];

    private string[] AddNode(string domain, string name, string opType, string[] inputs, string[] outputs, AttributeProto[] attributes)
    {
        if (!_nodeNames.Add(name))
        {
            throw new InvalidOperationException($"Node name '{name}' is used twice in graph '{_graph.Name}'.");
        }

        foreach (string input in inputs)
        {
            if (input.Length > 0 && !_values.Contains(input))
            {
                throw new InvalidOperationException(
                    $"Node '{name}' ({opType}) reads '{input}', which no input, initializer or earlier node defines.");
            }
        }

        foreach (string output in outputs.Where(o => o.Length > 0))
        {
            Define(output);
        }

        var node = new NodeProto { Name = name, OpType = opType };
        if (domain.Length > 0)
        {
            node.Domain = domain;
        }

        node.Input.Add(inputs);
        node.Output.Add(outputs);
        node.Attribute.Add(attributes);
        _graph.Node.Add(node);
        return outputs;
    }

    private string Constant(string name, DataType type, long[] shape, ReadOnlySpan<byte> bytes)
    {
        if (!_constants.TryGetValue(name, out string? existing))
        {
            existing = AddInitializer(name, type, shape, bytes);
            _constants.Add(name, existing);
        }

        return existing;
    }

    private string AddInitializer(string name, DataType type, long[] shape, ReadOnlySpan<byte> littleEndianBytes)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian; big-endian hosts are not supported.");
        }

        Define(name);
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(littleEndianBytes) };
        tensor.Dims.Add(shape);
        _graph.Initializer.Add(tensor);
        return name;
    }

    private static Half[] ToHalf(ReadOnlySpan<float> data)
    {
        var half = new Half[data.Length];
        for (int i = 0; i < data.Length; i++)
        {
            half[i] = (Half)data[i];
        }

        return half;
    }

    private void Define(string value)
    {
        if (!_values.Add(value))
        {
            throw new InvalidOperationException($"Value name '{value}' is defined twice in graph '{_graph.Name}'.");
        }
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, TensorShapeProto.Types.Dimension[] shape)
    {
        var tensorShape = new TensorShapeProto();
        tensorShape.Dim.Add(shape);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } },
        };
    }
}

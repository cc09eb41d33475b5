using Google.Protobuf;
using SimpleTransformer.Export;
using SimpleTransformer.Export.Onnx;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>
/// Small ONNX models, built with the exporter's protobuf classes, that isolate ONNX Runtime's fixed costs: a chain of
/// <c>Add</c> nodes gives the cost of one run and of each further node.
/// </summary>
public static class TrivialGraphs
{
    /// <summary>
    /// Writes a model whose output is <c>x + x + ... + x</c> with <paramref name="nodes"/> <c>Add</c> nodes, for an
    /// input <c>x</c> of shape [1, <paramref name="width"/>], and returns its path.
    /// </summary>
    public static string WriteAddChain(string directory, int nodes, int width)
    {
        var graph = new GraphProto { Name = $"add_chain_{nodes}" };
        graph.Input.Add(Value("x", 1, width));
        string previous = "x";
        for (int i = 0; i < nodes; i++)
        {
            string output = i == nodes - 1 ? "y" : $"sum_{i}";
            graph.Node.Add(new NodeProto { Name = $"/add_{i}", OpType = "Add", Input = { previous, "x" }, Output = { output } });
            previous = output;
        }

        graph.Output.Add(Value("y", 1, width));
        return Save(graph, Path.Combine(directory, $"add-chain-{nodes}.onnx"));
    }

    private static ValueInfoProto Value(string name, params long[] shape)
    {
        var dimensions = new TensorShapeProto();
        foreach (long size in shape)
        {
            dimensions.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = size });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = dimensions } },
        };
    }

    private static string Save(GraphProto graph, string path)
    {
        var model = new ModelProto { IrVersion = OnnxExporter.IrVersion, ProducerName = "SimpleTransformer.Benchmarks", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxExporter.OpsetVersion });
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }
}

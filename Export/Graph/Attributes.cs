using SimpleTransformer.Export.Onnx;
using AttributeType = SimpleTransformer.Export.Onnx.AttributeProto.Types.AttributeType;

namespace SimpleTransformer.Export.Graph;

/// <summary>Typed constructors for ONNX node attributes.</summary>
internal static class Attributes
{
    /// <summary>An INT attribute, such as <c>axis</c>.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeType.Int, I = value };

    /// <summary>An INTS attribute, such as <c>perm</c> or <c>axes</c>.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeType.Ints };
        attribute.Ints.Add(values);
        return attribute;
    }

    /// <summary>A FLOAT attribute, such as <c>epsilon</c>.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeType.Float, F = value };
}

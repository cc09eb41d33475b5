using static SimpleTransformer.Export.Graph.Attributes;
using DataType = SimpleTransformer.Export.Onnx.TensorProto.Types.DataType;

namespace SimpleTransformer.Export.Graph;

internal sealed partial class TransformerGraph
{
    //   x (WeightType) ── Cast ── float32      (no node when the weights are float32)
    private string ToFloat32(string scope, string x) =>
        WeightType == DataType.Float ? x : _graph.Node($"{scope}/Cast", "Cast", [x], Int("to", (long)DataType.Float));

    //   x (float32) ── Cast ── WeightType      (no node when the weights are float32)
    private string ToWeightType(string scope, string x) =>
        WeightType == DataType.Float ? x : _graph.Node($"{scope}/Cast", "Cast", [x], Int("to", (long)WeightType));

    // A scalar constant of the weights' element type, for arithmetic on float16 activations.
    private string WeightScalar(float value) => _graph.Scalar(value, WeightType);
}

// Shape letters: B batch, T new tokens in this call, C hidden size, I feed-forward intermediate size.

using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Export.Graph;

internal sealed partial class TransformerGraph
{
    //   x [B,T,C] ── fc_in ── [B,T,I] ── activation ── fc_out ── [B,T,C]
    //
    // Dropout after fc_out is the identity at inference.
    private string FeedForward(int layer, string x)
    {
        string scope = $"/layers.{layer}/mlp";
        string prefix = TensorLayout.Layer(layer, "mlp");
        string hidden = Linear($"{scope}/fc_in", x, $"{prefix}.fc_in");
        string activated = _config.Activation switch
        {
            Activation.Gelu => Gelu($"{scope}/act", hidden),
            Activation.GeluTanh => GeluTanh($"{scope}/act", hidden),
            Activation.Relu => _graph.Node($"{scope}/act/Relu", "Relu", [hidden]),
            _ => throw new InvalidOperationException($"Activation {_config.Activation} has no ONNX form."),
        };
        return Linear($"{scope}/fc_out", activated, $"{prefix}.fc_out");
    }

    //   x ── Mul(1/√2) ── Erf ── Add(1) ──┐
    //   x ── Mul(0.5) ────────────────────┴── Mul ── 0.5·x·(1 + erf(x/√2))
    //
    // Exact GELU; opset 17 has no Gelu operator.
    private string Gelu(string scope, string x)
    {
        string scaled = _graph.Node($"{scope}/scale/Mul", "Mul", [x, _graph.Float((float)(1 / Math.Sqrt(2)))]);
        string erf = _graph.Node($"{scope}/Erf", "Erf", [scaled]);
        string onePlus = _graph.Node($"{scope}/one_plus/Add", "Add", [erf, _graph.Float(1f)]);
        string half = _graph.Node($"{scope}/half/Mul", "Mul", [x, _graph.Float(0.5f)]);
        return _graph.Node($"{scope}/Mul", "Mul", [half, onePlus]);
    }

    //   x ── x·x·x ── Mul(0.044715) ── Add(x) ── Mul(√(2/π)) ── Tanh ── Add(1) ──┐
    //   x ── Mul(0.5) ────────────────────────────────────────────────────────────┴── Mul
    //
    // GELU with GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    private string GeluTanh(string scope, string x)
    {
        string square = _graph.Node($"{scope}/square/Mul", "Mul", [x, x]);
        string cube = _graph.Node($"{scope}/cube/Mul", "Mul", [square, x]);
        string cubeTerm = _graph.Node($"{scope}/cube_term/Mul", "Mul", [cube, _graph.Float(0.044715f)]);
        string inner = _graph.Node($"{scope}/inner/Add", "Add", [x, cubeTerm]);
        inner = _graph.Node($"{scope}/inner/Mul", "Mul", [inner, _graph.Float((float)Math.Sqrt(2 / Math.PI))]);

        string tanh = _graph.Node($"{scope}/Tanh", "Tanh", [inner]);
        string onePlus = _graph.Node($"{scope}/one_plus/Add", "Add", [tanh, _graph.Float(1f)]);
        string half = _graph.Node($"{scope}/half/Mul", "Mul", [x, _graph.Float(0.5f)]);
        return _graph.Node($"{scope}/Mul", "Mul", [half, onePlus]);
    }
}

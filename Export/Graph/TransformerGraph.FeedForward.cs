// Shape letters: B batch, T new tokens in this call, C hidden size, I feed-forward intermediate size.

using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Export.Graph;

internal sealed partial class TransformerGraph
{
    //   x [B,T,C] float32 ── Cast ── fc_in ── [B,T,I] ── activation ── fc_out ── [B,T,C] ── Cast ── float32
    //
    // The casts exist with float16 weights only. The optimized graph adds fc_in's bias inside the activation
    // (BiasGelu for gelu, FastGelu for gelu_tanh; relu has no fused form). Dropout after fc_out is the identity
    // at inference.
    private string FeedForward(int layer, string x)
    {
        string scope = $"/layers.{layer}/mlp";
        string prefix = TensorLayout.Layer(layer, "mlp");
        x = ToWeightType($"{scope}/input", x);

        string activated = _fused && _config.Activation != Activation.Relu
            ? FusedActivation($"{scope}/act", MatMulWeight($"{scope}/fc_in", x, $"{prefix}.fc_in"), $"{prefix}.fc_in.bias")
            : Activate($"{scope}/act", Linear($"{scope}/fc_in", x, $"{prefix}.fc_in"));

        string output = Linear($"{scope}/fc_out", activated, $"{prefix}.fc_out");
        return ToFloat32($"{scope}/output", output);
    }

    private string Activate(string scope, string hidden) => _config.Activation switch
    {
        Activation.Gelu => Gelu(scope, hidden),
        Activation.GeluTanh => GeluTanh(scope, hidden),
        Activation.Relu => _graph.Node($"{scope}/Relu", "Relu", [hidden]),
        _ => throw new InvalidOperationException($"Activation {_config.Activation} has no ONNX form."),
    };

    //   product [B,T,I] ──┐
    //   bias [I] ─────────┴── BiasGelu (exact, erf) or FastGelu (tanh approximation) ── [B,T,I]
    //
    // com.microsoft.BiasGelu computes Gelu(product + bias) with the error function, and FastGelu computes
    // 0.5·y·(1 + tanh(√(2/π)·(y + 0.044715·y³))) with y = product + bias, the same formulas as the standard
    // subgraphs below.
    private string FusedActivation(string scope, string product, string bias) => _config.Activation switch
    {
        Activation.Gelu => _graph.ContribNode($"{scope}/BiasGelu", "BiasGelu", [product, bias]),
        Activation.GeluTanh => _graph.ContribNode($"{scope}/FastGelu", "FastGelu", [product, bias]),
        _ => throw new InvalidOperationException($"Activation {_config.Activation} has no fused ONNX Runtime operator."),
    };

    //   x ── Mul(1/√2) ── Erf ── Add(1) ──┐
    //   x ── Mul(0.5) ────────────────────┴── Mul ── 0.5·x·(1 + erf(x/√2))
    //
    // Exact GELU; opset 17 has no Gelu operator.
    private string Gelu(string scope, string x)
    {
        string scaled = _graph.Node($"{scope}/scale/Mul", "Mul", [x, WeightScalar((float)(1 / Math.Sqrt(2)))]);
        string erf = _graph.Node($"{scope}/Erf", "Erf", [scaled]);
        string onePlus = _graph.Node($"{scope}/one_plus/Add", "Add", [erf, WeightScalar(1f)]);
        string half = _graph.Node($"{scope}/half/Mul", "Mul", [x, WeightScalar(0.5f)]);
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
        string cubeTerm = _graph.Node($"{scope}/cube_term/Mul", "Mul", [cube, WeightScalar(0.044715f)]);
        string inner = _graph.Node($"{scope}/inner/Add", "Add", [x, cubeTerm]);
        inner = _graph.Node($"{scope}/inner/Mul", "Mul", [inner, WeightScalar((float)Math.Sqrt(2 / Math.PI))]);

        string tanh = _graph.Node($"{scope}/Tanh", "Tanh", [inner]);
        string onePlus = _graph.Node($"{scope}/one_plus/Add", "Add", [tanh, WeightScalar(1f)]);
        string half = _graph.Node($"{scope}/half/Mul", "Mul", [x, WeightScalar(0.5f)]);
        return _graph.Node($"{scope}/Mul", "Mul", [half, onePlus]);
    }
}

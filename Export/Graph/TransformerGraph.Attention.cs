// Shape letters: B batch, T new tokens in this call, P past length (tokens in the KV cache),
// S = P + T total length, C hidden size, H attention heads, D head size (C / H).

using SimpleTransformer.Inference.Models;
using static SimpleTransformer.Export.Graph.Attributes;

namespace SimpleTransformer.Export.Graph;

/// <summary>Values computed once per graph and read by the attention of every layer.</summary>
/// <param name="Mask">
/// Additive score mask, [B, 1, T, S], or [B, H, T, S] with the ALiBi bias included. Float32, except in the
/// optimized float16 graph, where it is the float16 attention_bias of MultiHeadAttention.
/// </param>
/// <param name="Rotary">Rotary cosine and sine; null unless rotary.</param>
internal sealed record AttentionContext(string Mask, RotaryInputs? Rotary);

internal sealed partial class TransformerGraph
{
    // Input x and output are float32 [B,T,C]; everything between is in WeightType, with a Cast at each end when
    // that is float16. Dropout on the attention weights and on the output is the identity at inference.
    private string Attention(int layer, string x, AttentionContext context)
    {
        string scope = $"/layers.{layer}/attn";
        x = ToWeightType($"{scope}/input", x);
        string output = _fused ? FusedAttention(layer, scope, x, context) : StandardAttention(layer, scope, x, context);
        return ToFloat32($"{scope}/output", output);
    }

    //   x [B,T,C] ─┬─ q_proj ── split heads ── rotary ─────────────────────── q [B,H,T,D]
    //              ├─ k_proj ── split heads ── rotary ── Concat(past key) ─── present key [B,H,S,D]
    //              └─ v_proj ── split heads ──────────── Concat(past value) ─ present value [B,H,S,D]
    //
    //   q ── MatMul(present keyᵀ) ── Div(√D) ── Add(mask) ── Softmax ── MatMul(present value) ── [B,H,T,D]
    //     ── merge heads ── o_proj ── [B,T,C]
    //
    // The rotary steps exist only with rotary position embedding. With float16 weights the scores are cast to
    // float32 before the scaling, so the mask, the softmax and its row sums are float32, and the weights are cast
    // back to float16 for the product with the values.
    private string StandardAttention(int layer, string scope, string x, AttentionContext context)
    {
        string prefix = TensorLayout.Layer(layer, "attn");
        string query = SplitHeads($"{scope}/q_proj", Linear($"{scope}/q_proj", x, $"{prefix}.q_proj"));
        string key = SplitHeads($"{scope}/k_proj", Linear($"{scope}/k_proj", x, $"{prefix}.k_proj"));
        string value = SplitHeads($"{scope}/v_proj", Linear($"{scope}/v_proj", x, $"{prefix}.v_proj"));
        if (context.Rotary is { } rotary)
        {
            query = ApplyRotary($"{scope}/q_rotary", query, rotary);
            key = ApplyRotary($"{scope}/k_rotary", key, rotary);
        }

        // [B,H,P,D] ++ [B,H,T,D] -> [B,H,S,D]
        string allKeys = _graph.Node($"{scope}/key_cache/Concat", "Concat",
            [Past(layer, "key"), key], [Present(layer, "key")], Int("axis", 2))[0];
        string allValues = _graph.Node($"{scope}/value_cache/Concat", "Concat",
            [Past(layer, "value"), value], [Present(layer, "value")], Int("axis", 2))[0];

        string keysTransposed = _graph.Node($"{scope}/key_cache/Transpose", "Transpose", [allKeys], Ints("perm", 0, 1, 3, 2)); // [B,H,S,D] -> [B,H,D,S]
        string scores = _graph.Node($"{scope}/scores/MatMul", "MatMul", [query, keysTransposed]); // [B,H,T,S]
        scores = ToFloat32($"{scope}/scores", scores);
        scores = _graph.Node($"{scope}/scores/Div", "Div", [scores, _graph.Float((float)Math.Sqrt(_config.HeadSize))]);
        scores = _graph.Node($"{scope}/scores/Add", "Add", [scores, context.Mask]);
        string weights = _graph.Node($"{scope}/Softmax", "Softmax", [scores], Int("axis", -1));
        weights = ToWeightType($"{scope}/weights", weights);

        string heads = _graph.Node($"{scope}/context/MatMul", "MatMul", [weights, allValues]); // [B,H,T,D]
        return Linear($"{scope}/o_proj", MergeHeads($"{scope}/context", heads), $"{prefix}.o_proj");
    }

    //   x [B,T,C] ─┬─ q_proj ─ (RotaryEmbedding) ──┐
    //              ├─ k_proj ─ (RotaryEmbedding) ──┤   past key, past value [B,H,P,D]   mask [B,1|H,T,S]
    //              └─ v_proj ──────────────────────┤        │                             │
    //                                              └── MultiHeadAttention ── [B,T,C] ── o_proj ── [B,T,C]
    //                                                       │
    //                                                       └── present key, present value [B,H,S,D]
    //
    // com.microsoft.MultiHeadAttention takes q, k, v as [B,T,C], appends k and v to the [B,H,P,D] past along
    // the sequence axis (the present outputs), computes softmax(q kᵀ · scale + attention_bias) v per head and merges
    // the heads. The whole mask (causal, padding, window, ALiBi) goes in as attention_bias, so the operator's own
    // causal flag and key_padding_mask stay unused. Without rotary, the q, k and v biases go in as its bias input
    // [3C]; with rotary they must be added before the rotation, so the projections keep their Add.
    private string FusedAttention(int layer, string scope, string x, AttentionContext context)
    {
        string prefix = TensorLayout.Layer(layer, "attn");
        string query, key, value, bias;
        if (context.Rotary is { } rotary)
        {
            query = FusedRotary($"{scope}/q_rotary", Linear($"{scope}/q_proj", x, $"{prefix}.q_proj"), rotary);
            key = FusedRotary($"{scope}/k_rotary", Linear($"{scope}/k_proj", x, $"{prefix}.k_proj"), rotary);
            value = Linear($"{scope}/v_proj", x, $"{prefix}.v_proj");
            bias = "";
        }
        else
        {
            query = MatMulWeight($"{scope}/q_proj", x, $"{prefix}.q_proj");
            key = MatMulWeight($"{scope}/k_proj", x, $"{prefix}.k_proj");
            value = MatMulWeight($"{scope}/v_proj", x, $"{prefix}.v_proj");
            bias = _graph.Node($"{scope}/qkv_bias/Concat", "Concat",
                [$"{prefix}.q_proj.bias", $"{prefix}.k_proj.bias", $"{prefix}.v_proj.bias"], Int("axis", 0)); // 3 × [C] -> [3C]
        }

        string name = $"{scope}/MultiHeadAttention";
        string attended = _graph.ContribNode(name, "MultiHeadAttention",
            [query, key, value, bias, "", context.Mask, Past(layer, "key"), Past(layer, "value")],
            [$"{name}/output_0", Present(layer, "key"), Present(layer, "value")],
            Int("num_heads", _config.NumHeads), Float("scale", (float)(1 / Math.Sqrt(_config.HeadSize))))[0];
        return Linear($"{scope}/o_proj", attended, $"{prefix}.o_proj");
    }

    //   x [B,T,C] ── Reshape ── [B,T,H,D] ── Transpose ── [B,H,T,D]
    private string SplitHeads(string scope, string x)
    {
        string shape = _graph.Int64s(0, 0, _config.NumHeads, _config.HeadSize); // 0 copies B and T from the input
        string split = _graph.Node($"{scope}/split_heads/Reshape", "Reshape", [x, shape]); // [B,T,C] -> [B,T,H,D]
        return _graph.Node($"{scope}/split_heads/Transpose", "Transpose", [split], Ints("perm", 0, 2, 1, 3)); // [B,T,H,D] -> [B,H,T,D]
    }

    //   x [B,H,T,D] ── Transpose ── [B,T,H,D] ── Reshape ── [B,T,C]
    private string MergeHeads(string scope, string x)
    {
        string transposed = _graph.Node($"{scope}/merge_heads/Transpose", "Transpose", [x], Ints("perm", 0, 2, 1, 3)); // [B,H,T,D] -> [B,T,H,D]
        return _graph.Node($"{scope}/merge_heads/Reshape", "Reshape", [transposed, _graph.Int64s(0, 0, _config.HiddenSize)]); // [B,T,H,D] -> [B,T,C]
    }
}

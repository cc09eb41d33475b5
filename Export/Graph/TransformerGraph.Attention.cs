// Shape letters: B batch, T new tokens in this call, P past length (tokens in the KV cache),
// S = P + T total length, C hidden size, H attention heads, D head size (C / H).

using SimpleTransformer.Inference.Models;
using static SimpleTransformer.Export.Graph.Attributes;

namespace SimpleTransformer.Export.Graph;

/// <summary>Values computed once per graph and read by the attention of every layer.</summary>
/// <param name="Mask">Additive score mask, [B, 1, T, S], or [B, H, T, S] with the ALiBi bias included.</param>
/// <param name="Rotary">Rotary cosine and sine at each new token's position, each [B, 1, T, D/2]; null unless rotary.</param>
internal sealed record AttentionContext(string Mask, (string Cos, string Sin)? Rotary);

internal sealed partial class TransformerGraph
{
    //   x [B,T,C] ─┬─ q_proj ── split heads ── rotary ─────────────────────── q [B,H,T,D]
    //              ├─ k_proj ── split heads ── rotary ── Concat(past key) ─── present key [B,H,S,D]
    //              └─ v_proj ── split heads ──────────── Concat(past value) ─ present value [B,H,S,D]
    //
    //   q ── MatMul(present keyᵀ) ── Div(√D) ── Add(mask) ── Softmax ── MatMul(present value) ── [B,H,T,D]
    //     ── merge heads ── o_proj ── [B,T,C]
    //
    // The rotary steps exist only with rotary position embedding. Dropout on the attention weights is the
    // identity at inference. A fused attention operator can replace this method if it reads the same inputs
    // and writes the same present outputs.
    private string Attention(int layer, string x, AttentionContext context)
    {
        string scope = $"/layers.{layer}/attn";
        string prefix = TensorLayout.Layer(layer, "attn");
        string query = SplitHeads($"{scope}/q_proj", Linear($"{scope}/q_proj", x, $"{prefix}.q_proj"));
        string key = SplitHeads($"{scope}/k_proj", Linear($"{scope}/k_proj", x, $"{prefix}.k_proj"));
        string value = SplitHeads($"{scope}/v_proj", Linear($"{scope}/v_proj", x, $"{prefix}.v_proj"));
        if (context.Rotary is var (cos, sin))
        {
            query = ApplyRotary($"{scope}/q_rotary", query, cos, sin);
            key = ApplyRotary($"{scope}/k_rotary", key, cos, sin);
        }

        // [B,H,P,D] ++ [B,H,T,D] -> [B,H,S,D]
        string allKeys = _graph.Node($"{scope}/key_cache/Concat", "Concat",
            [Past(layer, "key"), key], [Present(layer, "key")], Int("axis", 2))[0];
        string allValues = _graph.Node($"{scope}/value_cache/Concat", "Concat",
            [Past(layer, "value"), value], [Present(layer, "value")], Int("axis", 2))[0];

        string keysTransposed = _graph.Node($"{scope}/key_cache/Transpose", "Transpose", [allKeys], Ints("perm", 0, 1, 3, 2)); // [B,H,S,D] -> [B,H,D,S]
        string scores = _graph.Node($"{scope}/scores/MatMul", "MatMul", [query, keysTransposed]); // [B,H,T,S]
        scores = _graph.Node($"{scope}/scores/Div", "Div", [scores, _graph.Float((float)Math.Sqrt(_config.HeadSize))]);
        scores = _graph.Node($"{scope}/scores/Add", "Add", [scores, context.Mask]);
        string weights = _graph.Node($"{scope}/Softmax", "Softmax", [scores], Int("axis", -1));

        string heads = _graph.Node($"{scope}/context/MatMul", "MatMul", [weights, allValues]); // [B,H,T,D]
        return Linear($"{scope}/o_proj", MergeHeads($"{scope}/context", heads), $"{prefix}.o_proj");
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

// Shape letters: B batch, T new tokens in this call, P past length (tokens in the KV cache),
// S = P + T total length, H attention heads.

using SimpleTransformer.Inference.Models;
using static SimpleTransformer.Export.Graph.Attributes;
using DataType = SimpleTransformer.Export.Onnx.TensorProto.Types.DataType;

namespace SimpleTransformer.Export.Graph;

internal sealed partial class TransformerGraph
{
    /// <summary>The additive score for a key a query must not see; finite, so a fully masked row stays finite.</summary>
    public const float MaskedScore = -1e9f;

    /// <summary>
    /// The masked score of a float16 mask (the attention_bias of the optimized float16 graph), where -1e9 would round
    /// to -infinity. -10000 is MultiHeadAttention's own default mask_filter_value: exp(-10000) is 0 in float32, and a
    /// float16 score plus -10000 stays finite for scores above -55504.
    /// </summary>
    public const float MaskedScoreFloat16 = -10000f;

    //   input_ids ── Shape ── Gather(1) ── T ──┐
    //   checked S ─────────────────────────────┴── Sub ── P
    //   Range(P, S) ── query index [T] ──┐                          (cache indices P+t)
    //   Range(0, S) ── key index [S] ────┴── Sub ── distance [T,S]   (query index - key index)
    //   distance >= 0, And distance < W ── Unsqueeze ── [1,1,T,S] ──┐
    //   checked attention_mask == 1 ── Unsqueeze ── [B,1,1,S] ──────────────┴── And ── Where(0, -1e9) ── mask [B,1,T,S]
    //   ALiBi only: mask - slopes [1,H,1,1] · distance [1,1,T,S] ── mask [B,H,T,S]
    //   Optimized float16 only: Where(0, -10000), then Cast to float16 for MultiHeadAttention's attention_bias.
    //
    // Built once, in float32, and added to the scores of every layer. Reads the mask and S after the input checks.
    private string AttentionMask(CheckedInputs inputs)
    {
        const string scope = "/attention_mask";
        string newLength = DimensionOf($"{scope}/sequence_length", InputIds, 1);
        string totalLength = inputs.TotalLength;
        string pastLength = _graph.Node($"{scope}/past_sequence_length/Sub", "Sub", [totalLength, newLength]);

        string queryIndex = _graph.Node($"{scope}/query_index/Range", "Range", [pastLength, totalLength, _graph.Int64(1)]);
        string keyIndex = _graph.Node($"{scope}/key_index/Range", "Range", [_graph.Int64(0), totalLength, _graph.Int64(1)]);
        string queryColumn = _graph.Node($"{scope}/query_index/Unsqueeze", "Unsqueeze", [queryIndex, _graph.Int64s(1)]); // [T] -> [T,1]
        string keyRow = _graph.Node($"{scope}/key_index/Unsqueeze", "Unsqueeze", [keyIndex, _graph.Int64s(0)]); // [S] -> [1,S]
        string distance = _graph.Node($"{scope}/distance/Sub", "Sub", [queryColumn, keyRow]); // [T,S]

        string visible = _graph.Node($"{scope}/causal/GreaterOrEqual", "GreaterOrEqual", [distance, _graph.Int64(0)]);
        if (_config.SlidingWindow is int window)
        {
            string inWindow = _graph.Node($"{scope}/sliding_window/Less", "Less", [distance, _graph.Int64(window)]);
            visible = _graph.Node($"{scope}/sliding_window/And", "And", [visible, inWindow]);
        }

        visible = _graph.Node($"{scope}/causal/Unsqueeze", "Unsqueeze", [visible, _graph.Int64s(0, 1)]); // [T,S] -> [1,1,T,S]
        string notPadding = _graph.Node($"{scope}/padding/Equal", "Equal", [inputs.AttentionMask, _graph.Int64(1)]);
        notPadding = _graph.Node($"{scope}/padding/Unsqueeze", "Unsqueeze", [notPadding, _graph.Int64s(1, 2)]); // [B,S] -> [B,1,1,S]
        visible = _graph.Node($"{scope}/And", "And", [visible, notPadding]); // [B,1,T,S]
        bool float16Bias = _fused && WeightType == DataType.Float16;
        string mask = _graph.Node($"{scope}/Where", "Where", [visible, _graph.Float(0f), _graph.Float(float16Bias ? MaskedScoreFloat16 : MaskedScore)]);
        if (_config.PositionEmbedding == PositionEmbedding.Alibi)
        {
            mask = AddAlibiBias(scope, mask, distance);
        }

        return float16Bias ? ToWeightType(scope, mask) : mask;
    }

    //   distance [T,S] ── Cast(float) ── Unsqueeze ── [1,1,T,S] ── Mul(alibi.slopes [1,H,1,1]) ── [1,H,T,S]
    //   mask [B,1,T,S] ── Sub ── [B,H,T,S]
    //
    // Distances are cache indices, so left padding does not change them.
    private string AddAlibiBias(string scope, string mask, string distance)
    {
        string slopes = _graph.Initializer("alibi.slopes", [1, _config.NumHeads, 1, 1], PositionTables.AlibiSlopes(_config));
        string floatDistance = _graph.Node($"{scope}/alibi/Cast", "Cast", [distance], Int("to", (long)DataType.Float));
        floatDistance = _graph.Node($"{scope}/alibi/Unsqueeze", "Unsqueeze", [floatDistance, _graph.Int64s(0, 1)]); // [T,S] -> [1,1,T,S]
        string bias = _graph.Node($"{scope}/alibi/Mul", "Mul", [slopes, floatDistance]); // [1,H,T,S]
        return _graph.Node($"{scope}/alibi/Sub", "Sub", [mask, bias]);
    }

    //   x ── Shape ── Gather(axis) ── scalar int64
    private string DimensionOf(string scope, string x, long axis)
    {
        string shape = _graph.Node($"{scope}/Shape", "Shape", [x]);
        return _graph.Node($"{scope}/Gather", "Gather", [shape, _graph.Int64(axis)], Int("axis", 0));
    }
}

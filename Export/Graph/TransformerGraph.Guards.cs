// Shape letters: B batch, T new tokens in this call, P past length (tokens in the KV cache),
// S = P + T total length.

using static SimpleTransformer.Export.Graph.Attributes;

namespace SimpleTransformer.Export.Graph;

/// <summary>Graph inputs after the input checks; the rest of the graph reads these instead of the raw inputs.</summary>
/// <param name="AttentionMask">attention_mask, [B, S], checked to have S = P + T columns.</param>
/// <param name="TotalLength">S = P + T as an int64 scalar, checked to be at most max_position_embeddings.</param>
/// <param name="PositionIds">position_ids, [B, T], checked to be below max_position_embeddings.</param>
internal sealed record CheckedInputs(string AttentionMask, string TotalLength, string PositionIds);

internal sealed partial class TransformerGraph
{
    //   input_ids ── Shape ── [B, T] ──────────────────────────┐
    //   past_key_values.0.key ── Shape ── Gather(2) ── P ──────┴── Add ── S
    //   zeros [max_position_embeddings] ── Gather(S - 1) ── 0 ── Add(S) ── checked S          sequence_within_context
    //   attention_mask ── Reshape([B, checked S]) ── checked mask [B,S]                       attention_mask_length_is_past_plus_new
    //   zeros [max_position_embeddings] ── Gather(position_ids) ── 0 [B,T] ── Add(position_ids) ── checked position_ids
    //                                                                                         position_ids_within_context
    //
    // ONNX has no assert operator, so each check is an operator that fails on a wrong input: Gather rejects an index
    // outside the table, and Reshape rejects a target shape with a different element count. ONNX Runtime then reports
    // the failing node's name, which names the check. Each check's output feeds the computation (an added zero, or the
    // reshaped mask itself), so ONNX Runtime cannot drop it, and valid inputs give the same results as without it.
    private CheckedInputs InputChecks()
    {
        const string scope = "/guards";
        string idsShape = _graph.Node($"{scope}/input_ids/Shape", "Shape", [InputIds]); // [2]: B, T
        string batch = _graph.Node($"{scope}/batch_size/Gather", "Gather", [idsShape, _graph.Int64s(0)], Int("axis", 0)); // [1]
        string newLength = _graph.Node($"{scope}/sequence_length/Gather", "Gather", [idsShape, _graph.Int64(1)], Int("axis", 0));
        string pastLength = DimensionOf($"{scope}/past_sequence_length", Past(0, "key"), 2);
        string totalLength = _graph.Node($"{scope}/total_sequence_length/Add", "Add", [pastLength, newLength]);

        // Gather accepts indices in [-n, n - 1], so S - 1 passes for S <= max_position_embeddings and fails above.
        string zeros = _graph.Int64Initializer("guards.context_zeros", new long[_config.MaxPositions]);
        string lastIndex = _graph.Node($"{scope}/sequence_within_context/Sub", "Sub", [totalLength, _graph.Int64(1)]);
        string contextZero = _graph.Node($"{scope}/sequence_within_context/Gather", "Gather", [zeros, lastIndex], Int("axis", 0));
        totalLength = _graph.Node($"{scope}/sequence_within_context/Add", "Add", [totalLength, contextZero]);

        // A [B, 1] mask has B elements instead of B·S, so it fails here whenever S > 1 instead of broadcasting later.
        string total = _graph.Node($"{scope}/attention_mask_length_is_past_plus_new/Unsqueeze", "Unsqueeze", [totalLength, _graph.Int64s(0)]); // [] -> [1]
        string maskShape = _graph.Node($"{scope}/attention_mask_length_is_past_plus_new/Concat", "Concat", [batch, total], Int("axis", 0)); // [2]: B, S
        string mask = _graph.Node($"{scope}/attention_mask_length_is_past_plus_new/Reshape", "Reshape", [AttentionMaskInput, maskShape]); // [B,S]

        // NOTE: a negative position id down to -max_position_embeddings passes this check, because Gather counts
        // negative indices from the end.
        string positionZeros = _graph.Node($"{scope}/position_ids_within_context/Gather", "Gather", [zeros, PositionIds], Int("axis", 0)); // [B,T]
        string positionIds = _graph.Node($"{scope}/position_ids_within_context/Add", "Add", [PositionIds, positionZeros]);

        return new CheckedInputs(mask, totalLength, positionIds);
    }
}

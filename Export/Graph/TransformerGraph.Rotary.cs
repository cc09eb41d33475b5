// Shape letters: B batch, T new tokens in this call, C hidden size, H attention heads, D head size.

using SimpleTransformer.Inference.Models;
using static SimpleTransformer.Export.Graph.Attributes;

namespace SimpleTransformer.Export.Graph;

/// <summary>Rotary cosine and sine as the attention of every layer reads them.</summary>
/// <param name="Cos">
/// Standard graph: the cosine at each new token's position, [B, 1, T, D/2]. Optimized graph: the whole table
/// <c>rotary.cos_table</c>, [max_position_embeddings, D/2], the <c>cos_cache</c> of RotaryEmbedding.
/// </param>
/// <param name="Sin">The sine, in the same form as <paramref name="Cos"/>.</param>
/// <param name="PositionIds">position_ids after the input checks, [B, T]; RotaryEmbedding reads them.</param>
internal sealed record RotaryInputs(string Cos, string Sin, string PositionIds);

internal sealed partial class TransformerGraph
{
    //   Standard:
    //   position_ids [B,T] ── Gather(rotary.cos_table [max_position_embeddings, D/2]) ── [B,T,D/2] ── Unsqueeze ── cos [B,1,T,D/2]
    //   position_ids [B,T] ── Gather(rotary.sin_table [max_position_embeddings, D/2]) ── [B,T,D/2] ── Unsqueeze ── sin [B,1,T,D/2]
    //   Optimized: the two tables themselves; RotaryEmbedding gathers by position_ids.
    //
    // Built once and shared by every layer; null unless the model uses rotary position embedding.
    private RotaryInputs? RotaryInputs(string positionIds)
    {
        if (_config.PositionEmbedding != PositionEmbedding.Rotary)
        {
            return null;
        }

        var (cosTable, sinTable) = PositionTables.Rotary(_config);
        long[] shape = [_config.MaxPositions, _config.HeadSize / 2];
        string cos = _graph.Initializer("rotary.cos_table", shape, cosTable, WeightType);
        string sin = _graph.Initializer("rotary.sin_table", shape, sinTable, WeightType);
        return _fused
            ? new RotaryInputs(cos, sin, positionIds)
            : new RotaryInputs(GatherRotary("/rotary/cos", cos, positionIds), GatherRotary("/rotary/sin", sin, positionIds), positionIds);
    }

    private string GatherRotary(string scope, string table, string positionIds)
    {
        string gathered = _graph.Node($"{scope}/Gather", "Gather", [table, positionIds]); // [B,T,D/2]
        return _graph.Node($"{scope}/Unsqueeze", "Unsqueeze", [gathered, _graph.Int64s(1)]); // [B,T,D/2] -> [B,1,T,D/2]
    }

    //   x [B,H,T,D] ── Split(axis 3) ── x1, x2 [B,H,T,D/2]
    //   x1·cos - x2·sin ──┐
    //   x2·cos + x1·sin ──┴── Concat(axis 3) ── [B,H,T,D]
    //
    // Half-split pairs (x[i], x[i + D/2]) as in GPT-NeoX and Llama.
    private string ApplyRotary(string scope, string x, RotaryInputs rotary)
    {
        string[] halves = _graph.Node($"{scope}/Split", "Split", [x], 2, Int("axis", 3)); // [B,H,T,D] -> 2 × [B,H,T,D/2]
        string first = halves[0], second = halves[1];

        string firstCos = _graph.Node($"{scope}/first_cos/Mul", "Mul", [first, rotary.Cos]);
        string secondSin = _graph.Node($"{scope}/second_sin/Mul", "Mul", [second, rotary.Sin]);
        string rotatedFirst = _graph.Node($"{scope}/first/Sub", "Sub", [firstCos, secondSin]);

        string secondCos = _graph.Node($"{scope}/second_cos/Mul", "Mul", [second, rotary.Cos]);
        string firstSin = _graph.Node($"{scope}/first_sin/Mul", "Mul", [first, rotary.Sin]);
        string rotatedSecond = _graph.Node($"{scope}/second/Add", "Add", [secondCos, firstSin]);

        return _graph.Node($"{scope}/Concat", "Concat", [rotatedFirst, rotatedSecond], Int("axis", 3)); // 2 × [B,H,T,D/2] -> [B,H,T,D]
    }

    //   x [B,T,C] ── RotaryEmbedding(position_ids, cos table, sin table) ── [B,T,C]
    //
    // com.microsoft.RotaryEmbedding with interleaved = 0 rotates the half-split pairs (x[i], x[i + D/2]) of each
    // head, reading cos_cache[position_ids[b, t]] and sin_cache[position_ids[b, t]]; num_heads splits C into H
    // heads of D = 2 · (D/2 columns of the tables).
    private string FusedRotary(string scope, string x, RotaryInputs rotary) =>
        _graph.ContribNode($"{scope}/RotaryEmbedding", "RotaryEmbedding", [x, rotary.PositionIds, rotary.Cos, rotary.Sin],
            Int("interleaved", 0), Int("num_heads", _config.NumHeads));
}

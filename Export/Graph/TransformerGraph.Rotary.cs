// Shape letters: B batch, T new tokens in this call, H attention heads, D head size.

using SimpleTransformer.Inference.Models;
using static SimpleTransformer.Export.Graph.Attributes;

namespace SimpleTransformer.Export.Graph;

internal sealed partial class TransformerGraph
{
    //   position_ids [B,T] ── Gather(rotary.cos_table [max_position_embeddings, D/2]) ── [B,T,D/2] ── Unsqueeze ── cos [B,1,T,D/2]
    //   position_ids [B,T] ── Gather(rotary.sin_table [max_position_embeddings, D/2]) ── [B,T,D/2] ── Unsqueeze ── sin [B,1,T,D/2]
    //
    // Built once and shared by every layer; null unless the model uses rotary position embedding.
    private (string Cos, string Sin)? RotaryTables()
    {
        if (_config.PositionEmbedding != PositionEmbedding.Rotary)
        {
            return null;
        }

        var (cosTable, sinTable) = PositionTables.Rotary(_config);
        long[] shape = [_config.MaxPositions, _config.HeadSize / 2];
        string cos = GatherRotary("/rotary/cos", _graph.Initializer("rotary.cos_table", shape, cosTable));
        string sin = GatherRotary("/rotary/sin", _graph.Initializer("rotary.sin_table", shape, sinTable));
        return (cos, sin);
    }

    private string GatherRotary(string scope, string table)
    {
        string gathered = _graph.Node($"{scope}/Gather", "Gather", [table, PositionIds]); // [B,T,D/2]
        return _graph.Node($"{scope}/Unsqueeze", "Unsqueeze", [gathered, _graph.Int64s(1)]); // [B,T,D/2] -> [B,1,T,D/2]
    }

    //   x [B,H,T,D] ── Split(axis 3) ── x1, x2 [B,H,T,D/2]
    //   x1·cos - x2·sin ──┐
    //   x2·cos + x1·sin ──┴── Concat(axis 3) ── [B,H,T,D]
    //
    // Half-split pairs (x[i], x[i + D/2]) as in GPT-NeoX and Llama.
    private string ApplyRotary(string scope, string x, string cos, string sin)
    {
        string[] halves = _graph.Node($"{scope}/Split", "Split", [x], 2, Int("axis", 3)); // [B,H,T,D] -> 2 × [B,H,T,D/2]
        string first = halves[0], second = halves[1];

        string firstCos = _graph.Node($"{scope}/first_cos/Mul", "Mul", [first, cos]);
        string secondSin = _graph.Node($"{scope}/second_sin/Mul", "Mul", [second, sin]);
        string rotatedFirst = _graph.Node($"{scope}/first/Sub", "Sub", [firstCos, secondSin]);

        string secondCos = _graph.Node($"{scope}/second_cos/Mul", "Mul", [second, cos]);
        string firstSin = _graph.Node($"{scope}/first_sin/Mul", "Mul", [first, sin]);
        string rotatedSecond = _graph.Node($"{scope}/second/Add", "Add", [secondCos, firstSin]);

        return _graph.Node($"{scope}/Concat", "Concat", [rotatedFirst, rotatedSecond], Int("axis", 3)); // 2 × [B,H,T,D/2] -> [B,H,T,D]
    }
}

using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Export.Graph;

/// <summary>
/// Fixed position tables derived from the configuration. Each value is computed in float64 and rounded
/// once to float32, so the tables are the same on every machine and close to the exact values.
/// </summary>
internal static class PositionTables
{
    /// <summary>
    /// The sinusoidal table, shape [max_position_embeddings, C], row-major:
    /// <c>table[p, 2i] = sin(p / 10000^(2i/C))</c> and <c>table[p, 2i+1] = cos(p / 10000^(2i/C))</c>.
    /// </summary>
    public static float[] Sinusoidal(ModelConfig config)
    {
        int positions = config.MaxPositions, hidden = config.HiddenSize;
        var table = new float[(long)positions * hidden];
        for (int p = 0; p < positions; p++)
        {
            for (int i = 0; i < hidden / 2; i++)
            {
                double angle = p / Math.Pow(10000.0, 2.0 * i / hidden);
                table[(long)p * hidden + 2 * i] = (float)Math.Sin(angle);
                table[(long)p * hidden + 2 * i + 1] = (float)Math.Cos(angle);
            }
        }

        return table;
    }

    /// <summary>
    /// The rotary cosine and sine tables, each of shape [max_position_embeddings, D/2], row-major:
    /// <c>cos[p, i] = cos(p · θ^(-2i/D))</c> and likewise for sine, with θ = <c>rope_theta</c>.
    /// </summary>
    public static (float[] Cos, float[] Sin) Rotary(ModelConfig config)
    {
        int positions = config.MaxPositions, half = config.HeadSize / 2;
        var cos = new float[(long)positions * half];
        var sin = new float[(long)positions * half];
        for (int i = 0; i < half; i++)
        {
            double inverseFrequency = Math.Pow(config.RopeTheta, -2.0 * i / config.HeadSize);
            for (int p = 0; p < positions; p++)
            {
                double angle = p * inverseFrequency;
                cos[(long)p * half + i] = (float)Math.Cos(angle);
                sin[(long)p * half + i] = (float)Math.Sin(angle);
            }
        }

        return (cos, sin);
    }

    /// <summary>
    /// The ALiBi slopes, <c>slope_h = 2^(-8(h+1)/H)</c> for h = 0..H-1. The same geometric sequence is used
    /// whether or not H is a power of two.
    /// </summary>
    public static float[] AlibiSlopes(ModelConfig config)
    {
        int heads = config.NumHeads;
        var slopes = new float[heads];
        for (int h = 0; h < heads; h++)
        {
            slopes[h] = (float)Math.Pow(2.0, -8.0 * (h + 1) / heads);
        }

        return slopes;
    }
}

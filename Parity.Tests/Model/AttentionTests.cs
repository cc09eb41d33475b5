// Dimension letters: B batch, T tokens, S keys, H heads, D head size.
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Parity.Tests.Parity;
using SimpleTransformer.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SimpleTransformer.Parity.Tests.Model;

[TestClass]
public sealed class AttentionTests
{
    [TestMethod]
    public void FastAndReferenceKernels_Agree_WithCausalAndPaddingMask()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var attention = new MultiHeadAttention(16, 4);
        attention.eval();
        var x = randn(2, 5, 16);
        var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }, [2, 5]);   // row 0 left-padded by 2
        var bias = PositionTables.AttentionBias(ModelTestConfigs.Tiny, mask, 5);

        attention.Kernel = AttentionKernel.Fast;
        var fast = attention.Forward(x, bias, null, null).Output;
        attention.Kernel = AttentionKernel.Reference;
        var reference = attention.Forward(x, bias, null, null).Output;

        TensorAssert.Close("attention output", reference.data<float>().ToArray(), fast.data<float>().ToArray(), 1e-5);
    }

    [TestMethod]
    public void FullyMaskedRow_IsFinite()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        using var attention = new MultiHeadAttention(16, 4);
        attention.eval();
        var x = randn(1, 3, 16);
        var bias = full(1, 1, 3, 3, PositionTables.MaskedScore);   // every key masked for every query

        foreach (var kernel in new[] { AttentionKernel.Fast, AttentionKernel.Reference })
        {
            attention.Kernel = kernel;
            var output = attention.Forward(x, bias, null, null).Output;
            Assert.IsTrue(output.isfinite().all().item<bool>(), $"{kernel} kernel produced a non-finite value for a fully masked row");
        }
    }

    [TestMethod]
    public void AttentionBias_MasksFutureAndPaddingKeys()
    {
        using var scope = NewDisposeScope();
        var mask = tensor(new long[] { 0, 1, 1, 1 }, [1, 4]);   // one padding key, then 3 real tokens

        var bias = PositionTables.AttentionBias(ModelTestConfigs.Tiny, mask, 2);   // [1, 1, 2, 4]: P = 2, T = 2

        float[] expected =
        [
            PositionTables.MaskedScore, 0, 0, PositionTables.MaskedScore,   // query at cache index 2
            PositionTables.MaskedScore, 0, 0, 0,                            // query at cache index 3
        ];
        CollectionAssert.AreEqual(new long[] { 1, 1, 2, 4 }, bias.shape);
        CollectionAssert.AreEqual(expected, bias.data<float>().ToArray());
    }

    [TestMethod]
    public void AlibiBias_HasGeometricSlopesAndLinearDistance()
    {
        using var scope = NewDisposeScope();
        var config = ModelTestConfigs.Tiny with { PositionEmbedding = PositionEmbedding.Alibi };
        var mask = ones(1, 3, dtype: int64);

        var bias = PositionTables.AttentionBias(config, mask, 3);   // [1, H, 3, 3]

        CollectionAssert.AreEqual(new[] { 0.25f, 0.0625f, 0.015625f, 0.00390625f }, PositionTables.AlibiSlopes(4));
        Assert.AreEqual(-2 * 0.25f, bias[0, 0, 2, 0].item<float>(), "head 0, query 2, key 0: slope 1/4 times distance 2");
        Assert.AreEqual(-1 * 0.0625f, bias[0, 1, 2, 1].item<float>(), "head 1, query 2, key 1: slope 1/16 times distance 1");
        Assert.AreEqual(0f, bias[0, 3, 1, 1].item<float>(), "a query attending itself has distance 0");
        Assert.IsLessThan(-1e8f, bias[0, 0, 0, 2].item<float>(), "a future key stays masked");
    }

    [TestMethod]
    public void SinusoidalTable_HasSineAndCosineColumns()
    {
        using var table = PositionTables.Sinusoidal(4, 8);

        Assert.AreEqual(0f, table[0, 0].item<float>());
        Assert.AreEqual(1f, table[0, 1].item<float>());
        Assert.AreEqual((float)Math.Sin(1.0), table[1, 0].item<float>(), 1e-7f);
        Assert.AreEqual((float)Math.Cos(1.0), table[1, 1].item<float>(), 1e-7f);
        Assert.AreEqual((float)Math.Sin(3 / Math.Pow(10000, 2.0 / 8)), table[3, 2].item<float>(), 1e-7f, "column 2 uses frequency 10000^(-2/8)");
        Assert.AreEqual((float)Math.Cos(2 / Math.Pow(10000, 6.0 / 8)), table[2, 7].item<float>(), 1e-7f, "column 7 uses frequency 10000^(-6/8)");
    }

    [TestMethod]
    public void Rotary_ScoresDependOnlyOnRelativeOffset()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var (cos, sin) = PositionTables.Rotary(64, 8, 10000.0);
        var q = randn(1, 1, 1, 8);
        var k = randn(1, 1, 1, 8);

        float Score(int queryPosition, int keyPosition)
        {
            var rq = MultiHeadAttention.Rotate(q, cos[queryPosition].view(1, 1, 1, 4), sin[queryPosition].view(1, 1, 1, 4));
            var rk = MultiHeadAttention.Rotate(k, cos[keyPosition].view(1, 1, 1, 4), sin[keyPosition].view(1, 1, 1, 4));
            return (rq * rk).sum().item<float>();
        }

        float baseline = Score(5, 2);
        Assert.AreEqual(baseline, Score(25, 22), 1e-4f, "shifting both positions by 20 keeps the score");
        Assert.AreEqual(baseline, Score(43, 40), 1e-4f, "shifting both positions by 38 keeps the score");
        Assert.AreNotEqual(baseline, Score(6, 2), 1e-3f, "a different offset changes the score");
        Assert.AreEqual((q * k).sum().item<float>(), Score(7, 7), 1e-4f, "equal positions rotate both vectors alike");
    }
}

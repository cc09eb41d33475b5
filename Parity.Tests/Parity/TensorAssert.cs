using System.Globalization;

namespace SimpleTransformer.Parity.Tests.Parity;

/// <summary>Element-wise comparison that names the tensor, the largest difference and the first index outside tolerance.</summary>
internal static class TensorAssert
{
    /// <summary>Returns the maximum absolute difference; fails when any element differs by more than <paramref name="tolerance"/>.</summary>
    public static double Close(string name, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{name}: element count");
        double maxDiff = 0;
        int worst = -1, firstBad = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(diff))
            {
                diff = double.PositiveInfinity;
            }

            if (diff > maxDiff)
            {
                maxDiff = diff;
                worst = i;
            }

            if (diff > tolerance && firstBad < 0)
            {
                firstBad = i;
            }
        }

        if (firstBad >= 0)
        {
            Assert.Fail(string.Create(CultureInfo.InvariantCulture,
                $"{name}: max abs diff {maxDiff:E3} at index {worst} exceeds {tolerance:E1}; first bad index {firstBad} (expected {expected[firstBad]}, actual {actual[firstBad]})."));
        }

        return maxDiff;
    }
}

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>Order statistics and a least-squares line, the summaries every table uses.</summary>
public static class Statistics
{
    /// <summary>Returns the median of <paramref name="values"/>, the mean of the two middle values for an even count.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            throw new ArgumentException("The median of an empty sample is undefined. Measure at least once.", nameof(values));
        }

        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>Returns the smallest and the largest value, the spread shown next to a median.</summary>
    public static (double Min, double Max) Range(IEnumerable<double> values)
    {
        var list = values.ToList();
        return (list.Min(), list.Max());
    }

    /// <summary>Fits <c>y = intercept + slope · x</c> by ordinary least squares.</summary>
    public static (double Intercept, double Slope) LinearFit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count || x.Count < 2)
        {
            throw new ArgumentException($"A line needs at least two (x, y) pairs of equal count, got {x.Count} x and {y.Count} y values.");
        }

        double meanX = x.Average(), meanY = y.Average();
        double covariance = 0, variance = 0;
        for (int i = 0; i < x.Count; i++)
        {
            covariance += (x[i] - meanX) * (y[i] - meanY);
            variance += (x[i] - meanX) * (x[i] - meanX);
        }

        double slope = covariance / variance;
        return (meanY - slope * meanX, slope);
    }
}

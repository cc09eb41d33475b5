using System.Globalization;

namespace SimpleTransformer.Benchmarks.Report;

/// <summary>Number formats shared by every table, in the invariant culture.</summary>
public static class Format
{
    /// <summary>Formats seconds as milliseconds with three significant digits, for example <c>0.412 ms</c> or <c>12.3 ms</c>.</summary>
    public static string Milliseconds(double seconds) => Significant(seconds * 1e3) + " ms";

    /// <summary>Formats a median with its range across rounds, in milliseconds.</summary>
    public static string MillisecondsRange(double median, double min, double max) =>
        $"{Significant(median * 1e3)} ({Significant(min * 1e3)}–{Significant(max * 1e3)})";

    /// <summary>Formats a ratio as <c>4.2x</c>.</summary>
    public static string Ratio(double ratio) => Significant(ratio) + "x";

    /// <summary>Formats a fraction as a percentage with one decimal.</summary>
    public static string Percent(double fraction) => (fraction * 100).ToString("F1", CultureInfo.InvariantCulture) + " %";

    /// <summary>Formats a number with thousands separators and no decimals.</summary>
    public static string Whole(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Formats a number with three significant digits (more when it has more integer digits).</summary>
    public static string Significant(double value)
    {
        double magnitude = Math.Abs(value);
        string format = "F3";
        if (magnitude >= 100)
        {
            format = "F0";
        }
        else if (magnitude >= 10)
        {
            format = "F1";
        }
        else if (magnitude >= 1)
        {
            format = "F2";
        }

        return value.ToString(format, CultureInfo.InvariantCulture);
    }
}

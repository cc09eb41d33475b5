using System.Globalization;

namespace SimpleTransformer.Training.Memory;

/// <summary>
/// The resident memory of this process from Linux's <c>/proc/self/status</c>: <c>VmRSS</c> (now) and <c>VmHWM</c>
/// (the peak, or "high water mark"). Writing <c>5</c> to <c>/proc/self/clear_refs</c> resets the peak to the
/// current value (Linux 4.0 and later; see proc(5)).
/// </summary>
public static class ProcessMemory
{
    private const string StatusPath = "/proc/self/status";
    private const string ClearRefsPath = "/proc/self/clear_refs";

    /// <summary>Returns the current and the peak resident set size in bytes.</summary>
    public static (long Resident, long Peak) Read()
    {
        if (!File.Exists(StatusPath))
        {
            throw new InvalidOperationException($"'{StatusPath}' was not found. Measuring memory needs Linux; other systems are not supported.");
        }

        long? resident = null, peak = null;
        foreach (string line in File.ReadLines(StatusPath))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                resident = ParseKilobytes(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = ParseKilobytes(line);
            }
        }

        if (resident is null || peak is null)
        {
            throw new InvalidOperationException($"'{StatusPath}' has no VmRSS or VmHWM line. Measuring memory needs a Linux kernel that reports them.");
        }

        return (resident.Value, peak.Value);
    }

    /// <summary>Resets the peak (<c>VmHWM</c>) to the current resident size.</summary>
    public static void ResetPeak()
    {
        try
        {
            File.WriteAllText(ClearRefsPath, "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"Resetting the peak resident size through '{ClearRefsPath}' failed: {e.Message} It needs Linux 4.0 or later and write access to the process's own /proc entry.", e);
        }
    }

    /// <summary>Parses a line such as <c>VmRSS:     2204 kB</c> into bytes.</summary>
    private static long ParseKilobytes(string line)
    {
        string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 3 || fields[2] != "kB" || !long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kilobytes))
        {
            throw new InvalidOperationException($"Unexpected line in '{StatusPath}': '{line}', expected '<name>: <number> kB'.");
        }

        return kilobytes * 1024;
    }
}

namespace SimpleTransformer.Parity.Tests.Load;

/// <summary>The process's resident set size and managed heap size at one moment.</summary>
/// <param name="RssBytes">Resident set size, <c>VmRSS</c> of <c>/proc/self/status</c>.</param>
/// <param name="ManagedBytes">Bytes in live managed objects after a full collection.</param>
internal readonly record struct MemorySample(long RssBytes, long ManagedBytes)
{
    /// <summary>Formats the sample in MiB and KiB for test output.</summary>
    public override string ToString() => $"RSS {RssBytes / 1048576.0:F1} MiB, managed {ManagedBytes / 1024.0:F0} KiB";
}

/// <summary>Measures the memory of the test process.</summary>
internal static class ProcessMemory
{
    private const string StatusFile = "/proc/self/status";

    /// <summary>
    /// Collects garbage, runs pending finalizers (which release the native memory of unreachable ONNX Runtime objects)
    /// and collects again, then reads the resident set size and the managed heap size.
    /// </summary>
    public static MemorySample Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        return new MemorySample(ResidentSetBytes(), managed);
    }

    /// <summary>The growth from <paramref name="before"/> to <paramref name="after"/>, negative where memory shrank.</summary>
    public static MemorySample Growth(MemorySample before, MemorySample after) =>
        new(after.RssBytes - before.RssBytes, after.ManagedBytes - before.ManagedBytes);

    // VmRSS is the only resident-size figure Linux reports per process. Elsewhere the test reports inconclusive.
    private static long ResidentSetBytes()
    {
        if (!File.Exists(StatusFile))
        {
            Assert.Inconclusive($"{StatusFile} does not exist, so the resident set size cannot be read; memory tests run on Linux only.");
        }

        foreach (string line in File.ReadLines(StatusFile))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                // The line reads "VmRSS:    123456 kB".
                string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidDataException($"{StatusFile} has no VmRSS line.");
    }
}

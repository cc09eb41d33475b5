using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace SimpleTransformer.Benchmarks.Harness;

/// <summary>The machine and software a run measured, printed with every absolute time so a reader can compare like with like.</summary>
/// <param name="Cpu">The CPU model from <c>/proc/cpuinfo</c>.</param>
/// <param name="LogicalCores">Logical processors visible to this process.</param>
/// <param name="VectorExtensions">The widest SIMD extensions the CPU reports (AVX2, AVX-512, AMX).</param>
/// <param name="MemoryGiB">Total physical memory.</param>
/// <param name="OperatingSystem">The distribution name and kernel.</param>
/// <param name="DotNet">The .NET runtime.</param>
/// <param name="OnnxRuntime">ONNX Runtime's native version.</param>
/// <param name="TorchSharp">The TorchSharp package and its LibTorch version.</param>
public sealed record MachineInfo(string Cpu, int LogicalCores, string VectorExtensions, double MemoryGiB, string OperatingSystem, string DotNet, string OnnxRuntime, string TorchSharp)
{
    /// <summary>Reads the machine description. Fields that Linux does not expose fall back to .NET's description, to 0 or to "none reported".</summary>
    public static MachineInfo Read()
    {
        string cpu = ProcField("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        string flags = ProcField("/proc/cpuinfo", "flags") ?? "";
        var flagSet = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var extensions = new List<string>();
        if (flagSet.Contains("avx2")) extensions.Add("AVX2");
        if (flagSet.Contains("avx512f")) extensions.Add("AVX-512");
        if (flagSet.Contains("amx_tile")) extensions.Add("AMX");

        double memory = 0;
        if (ProcField("/proc/meminfo", "MemTotal") is string total && long.TryParse(total.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kilobytes))
        {
            memory = kilobytes / (1024.0 * 1024.0);
        }

        string os = OsRelease() is string name ? $"{name}, kernel {Environment.OSVersion.Version}" : RuntimeInformation.OSDescription;
        string torchSharp = $"TorchSharp {typeof(torch).Assembly.GetName().Version?.ToString(3)} (LibTorch {torch.__version__})";
        return new MachineInfo(cpu, Environment.ProcessorCount, extensions.Count > 0 ? string.Join(", ", extensions) : "none reported",
            memory, os, RuntimeInformation.FrameworkDescription, $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}", torchSharp);
    }

    /// <summary>Returns the 1-, 5- and 15-minute load averages from <c>/proc/loadavg</c>, or "unknown".</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    /// <summary>Returns the description as Markdown list lines.</summary>
    public IEnumerable<string> ToMarkdownLines()
    {
        yield return $"- CPU: {Cpu}, {LogicalCores} logical cores, {VectorExtensions}";
        yield return $"- memory: {MemoryGiB:F0} GiB";
        yield return $"- OS: {OperatingSystem}";
        yield return $"- runtime: {DotNet}, {OnnxRuntime}, {TorchSharp}";
    }

    private static string? ProcField(string path, string key)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        foreach (string line in File.ReadLines(path))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && line[..colon].Trim() == key)
            {
                return line[(colon + 1)..].Trim();
            }
        }

        return null;
    }

    private static string? OsRelease()
    {
        const string path = "/etc/os-release";
        if (!File.Exists(path))
        {
            return null;
        }

        string? line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
        return line?["PRETTY_NAME=".Length..].Trim('"');
    }
}

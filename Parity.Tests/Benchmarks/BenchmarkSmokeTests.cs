using System.Diagnostics;
using SimpleTransformer.Parity.Tests.Model;

namespace SimpleTransformer.Parity.Tests.Benchmarks;

/// <summary>
/// Runs the benchmark program (<c>Benchmarks/bin/{configuration}/net10.0/SimpleTransformer.Benchmarks.dll</c>) as a
/// child process on its tiny setting and checks that every part ran and the results page and chart were written. The
/// numbers of the tiny setting mean nothing, so none is checked. The benchmark itself is not part of the test suite.
/// </summary>
[TestClass]
public sealed class BenchmarkSmokeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void TinyRun_WritesPageAndChart()
    {
        string output = Path.Combine(Path.GetTempPath(), $"simpletransformer-benchmark-smoke-{Guid.NewGuid():N}");
        try
        {
            var stopwatch = Stopwatch.StartNew();
            var (exitCode, stdout, stderr) = Run(["all", "--tiny", "--output", output]);
            TestContext.WriteLine($"benchmark program, tiny setting: exit code {exitCode} after {stopwatch.Elapsed.TotalSeconds:F1} s");

            Assert.AreEqual(0, exitCode, $"The benchmark program failed. Standard error:\n{stderr}");
            string page = Path.Combine(output, "benchmarks.md");
            Assert.IsTrue(File.Exists(page), $"'{page}' was not written. Standard error:\n{stderr}");
            string text = File.ReadAllText(page);
            foreach (string heading in new[]
            {
                "## Generation: per-token latency", "## Growth with context", "## The floor", "## Standard and optimized graphs",
                "## Prompt processing (prefill)", "## Memory", "## Micro-benchmarks (BenchmarkDotNet)", "## Training throughput and utilisation",
            })
            {
                Assert.Contains(heading, text, $"The results page lacks the section '{heading}'.");
            }

            Assert.Contains("| 1 | SimpleTransformer.Inference (ONNX Runtime, cache) |", text, "The generation table has no row for the library at batch 1.");
            Assert.Contains("# Benchmarks", stdout, "The page was not printed to standard output.");

            byte[] chart = File.ReadAllBytes(Path.Combine(output, "benchmarks-context.png"));
            CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, chart.Take(4).ToArray(), "benchmarks-context.png is not a PNG file.");
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    private static (int ExitCode, string Output, string Error) Run(string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryFiles.Root,
        };
        start.ArgumentList.Add(ProgramPath());
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The benchmark program did not finish within {Limit.TotalSeconds:F0} s on its tiny setting.");
        }

        return (process.ExitCode, output.Result, error.Result);
    }

    // The benchmark is a separate program of the solution: use the build of the test's configuration, or the other one.
    private static string ProgramPath()
    {
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        string other = configuration == "Release" ? "Debug" : "Release";
        foreach (string candidate in new[] { configuration, other })
        {
            string path = RepositoryFiles.Get(Path.Combine("Benchmarks", "bin", candidate, "net10.0", "SimpleTransformer.Benchmarks.dll"));
            if (File.Exists(path))
            {
                return path;
            }
        }

        Assert.Fail($"The benchmark program is not built. Run `dotnet build Benchmarks -c {configuration}` (scripts/test.sh builds the whole solution, which includes it).");
        return "";
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}

using System.Diagnostics;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// Runs the reference ONNX checker, <c>onnx.checker.check_model(path, full_check=True)</c>, in Debian's
/// Python 3 (package python3-onnx).
/// </summary>
internal static class OnnxChecker
{
    private const string Python = "/usr/bin/python3";

    // check_model(path, full_check=True) writes the shape-inferred model back to the path it checks, so the
    // script checks a copy in a temporary directory (external data file included). It then loads the model
    // with its external data and checks the in-memory proto as well. Operators of domains that onnx does not
    // know, such as com.microsoft, pass without a schema check; the standard operators around them are checked.
    private const string Script = """
        import os, shutil, sys, tempfile
        import onnx
        for source in sys.argv[1:]:
            with tempfile.TemporaryDirectory() as work:
                for name in os.listdir(os.path.dirname(source)):
                    if name.startswith(os.path.basename(source)):
                        shutil.copy(os.path.join(os.path.dirname(source), name), work)
                copy = os.path.join(work, os.path.basename(source))
                onnx.checker.check_model(copy, full_check=True)
            model = onnx.load(source)
            onnx.checker.check_model(model, full_check=True)
            opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
            print(f"{source}: onnx {onnx.__version__}: ir_version {model.ir_version}, opsets {opsets}, {len(model.graph.node)} nodes: ok")
        """;

    /// <summary>Checks the models at <paramref name="modelPaths"/> in one Python process and returns the checker's output; fails the test on any error.</summary>
    public static string Check(params string[] modelPaths)
    {
        var (exitCode, output) = RunPython(["-c", "import onnx"]);
        if (exitCode != 0)
        {
            Assert.Fail($"{Python} cannot import onnx, which this test needs for the ONNX checker: {output.Trim()} " +
                        "Run scripts/setup.sh (it installs the Debian package python3-onnx), or run 'apt-get install -y python3-onnx'.");
        }

        (exitCode, output) = RunPython(["-c", Script, .. modelPaths]);
        if (exitCode != 0)
        {
            Assert.Fail($"onnx.checker.check_model(full_check=True) rejected one of '{string.Join("', '", modelPaths)}' (exit code {exitCode}):{Environment.NewLine}{output}");
        }

        return output.Trim();
    }

    /// <summary>Runs <c>/usr/bin/python3</c> with <paramref name="arguments"/> and returns its exit code and combined output.</summary>
    internal static (int ExitCode, string Output) RunPython(string[] arguments)
    {
        if (!File.Exists(Python))
        {
            return (-1, $"{Python} does not exist.");
        }

        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Python}.");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill();
            return (-1, $"{Python} did not finish within 2 minutes.");
        }

        return (process.ExitCode, stdout + stderr.Result);
    }
}

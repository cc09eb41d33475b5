using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SimpleTransformer.Benchmarks.Models;

namespace SimpleTransformer.Benchmarks.Generation;

/// <summary>
/// Eager PyTorch with a key/value cache, in a Python child process running <c>python/torch_generate.py</c> on the
/// same checkpoint. The script times each generation itself, so process start-up and the pipe are not counted.
/// </summary>
public sealed class PyTorchGenerator : IGenerator
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(2);

    private readonly Process _process;

    private PyTorchGenerator(Process process, string version)
    {
        _process = process;
        TorchVersion = version;
    }

    /// <inheritdoc/>
    public string Name => "PyTorch eager, cache";

    /// <summary>The PyTorch version the script reported.</summary>
    public string TorchVersion { get; }

    /// <summary>
    /// Starts the script with <paramref name="python"/>. Returns null and the reason when Python or PyTorch is missing
    /// or the script fails to load the checkpoint.
    /// </summary>
    public static (PyTorchGenerator? Generator, string? Reason) TryStart(string python, string checkpointDirectory, int threads)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "python", "torch_generate.py");
        if (!File.Exists(script))
        {
            return (null, $"'{script}' is missing from the build output. Rebuild the Benchmarks project.");
        }

        var start = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(checkpointDirectory);
        start.ArgumentList.Add("--threads");
        start.ArgumentList.Add(threads.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.Environment["OMP_NUM_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"'{python}' did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"'{python}' could not be started ({e.Message}). Install Python 3 or pass --python PATH.");
        }

        var errors = process.StandardError.ReadToEndAsync();
        var ready = process.StandardOutput.ReadLineAsync();
        if (!ready.Wait(StartTimeout) || ready.Result is null)
        {
            process.Kill(entireProcessTree: true);
            string detail = errors.Wait(TimeSpan.FromSeconds(5)) ? errors.Result.Trim() : "";
            string lastLine = detail.Split('\n').LastOrDefault() ?? "";
            string fix = detail.Contains("No module named 'torch'", StringComparison.Ordinal)
                ? "PyTorch is not installed for this interpreter. On Debian 12, run `apt-get install -y python3-torch` (PyTorch 1.13) and use /usr/bin/python3."
                : "Run the script by hand to see the full error.";
            process.Dispose();
            return (null, $"'{python} {script}' failed: {lastLine} {fix}");
        }

        var hello = JsonNode.Parse(ready.Result)!;
        return (new PyTorchGenerator(process, (string?)hello["torch"] ?? "unknown"), null);
    }

    /// <inheritdoc/>
    public double Generate(PromptSet prompts, int newTokens)
    {
        var response = Request(new JsonObject { ["prompts"] = ToJson(prompts), ["new_tokens"] = newTokens });
        return (double)response["seconds"]!;
    }

    /// <summary>Returns the script's logits [B][V] after each whole prompt.</summary>
    public float[][] PromptLogits(PromptSet prompts)
    {
        var response = Request(new JsonObject { ["prompts"] = ToJson(prompts), ["logits"] = true });
        return [.. response["logits"]!.AsArray().Select(row => row!.AsArray().Select(v => (float)v!).ToArray())];
    }

    /// <summary>Closes the script's input, which ends it, and waits for it to exit.</summary>
    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private JsonNode Request(JsonObject request)
    {
        _process.StandardInput.WriteLine(request.ToJsonString());
        _process.StandardInput.Flush();
        string line = _process.StandardOutput.ReadLine()
            ?? throw new InvalidOperationException($"The PyTorch script exited (code {(_process.HasExited ? _process.ExitCode : -1)}) before it returned a response.");
        return JsonNode.Parse(line) ?? throw new JsonException($"The PyTorch script returned '{line}', expected a JSON object.");
    }

    private static JsonArray ToJson(PromptSet prompts) =>
        new([.. prompts.Ids.Select(ids => (JsonNode)new JsonArray([.. ids.Select(id => (JsonNode)JsonValue.Create(id))]))]);
}

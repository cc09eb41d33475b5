using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;

namespace SimpleTransformer.Parity.Tests.GenAI;

/// <summary>One greedy generation for the GenAI check program: equal-length prompts as batch rows.</summary>
internal sealed record GenAiRequest(string Directory, long[][] Prompts, int NewTokens);

/// <summary>What the GenAI check program returned for one <see cref="GenAiRequest"/>.</summary>
/// <param name="ModelType">GenAI's model type read from genai_config.json.</param>
/// <param name="Generated">Per batch row, the ids GenAI generated after the prompt.</param>
/// <param name="TokenizerError">GenAI's message when it cannot build a Tokenizer from the directory; null when it can.</param>
internal sealed record GenAiResult(string ModelType, int[][] Generated, string? TokenizerError);

/// <summary>
/// Runs ONNX Runtime GenAI through the SimpleTransformer.GenAiCheck program in a child process, so GenAI's native
/// code never shares the test host with TorchSharp and the tests' own ONNX Runtime sessions.
/// </summary>
internal static class GenAiProcess
{
    /// <summary>Runs every request in one child process and returns the results in the same order; fails the test on any error.</summary>
    public static GenAiResult[] Run(string scratchDirectory, params GenAiRequest[] requests)
    {
        string program = ProgramPath();
        string requestPath = Path.Combine(scratchDirectory, "genai-requests.json");
        var json = new JsonArray([.. requests.Select(r => (JsonNode)new JsonObject
        {
            ["directory"] = r.Directory,
            ["prompts"] = new JsonArray([.. r.Prompts.Select(row => (JsonNode)new JsonArray([.. row.Select(id => (JsonNode)id)]))]),
            ["new_tokens"] = r.NewTokens,
        })]);
        File.WriteAllText(requestPath, json.ToJsonString());

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(program);
        start.ArgumentList.Add(requestPath);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start 'dotnet {program}'.");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill();
            Assert.Fail($"'{program}' did not finish within 5 minutes.");
        }

        Assert.AreEqual(0, process.ExitCode, $"'{program}' exited with code {process.ExitCode}:{Environment.NewLine}{stdout}{stderr.Result}");
        var results = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!.AsArray();
        Assert.HasCount(requests.Length, results, "one result per request");
        return [.. results.Select((node, i) => Parse(node!, requests[i]))];
    }

    private static GenAiResult Parse(JsonNode node, GenAiRequest request)
    {
        if ((string?)node["error"] is string error)
        {
            Assert.Fail($"GenAI failed on '{request.Directory}': {error}");
        }

        var sequences = node["sequences"]!.AsArray();
        int[][] generated = [.. sequences.Select((row, i) => row!.AsArray().Select(id => (int)id!).Skip(request.Prompts[i].Length).ToArray())];
        return new GenAiResult((string)node["model_type"]!, generated, (string?)node["tokenizer_error"]);
    }

    // The build of Parity.Tests builds GenAiCheck (a project reference without its assembly) and records the path of
    // its output here.
    private static string ProgramPath()
    {
        string? path = typeof(GenAiProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "GenAiCheckPath")?.Value;
        Assert.IsNotNull(path, "Parity.Tests.csproj records GenAiCheckPath as assembly metadata; rebuild the test project.");
        Assert.IsTrue(File.Exists(path), $"'{path}' is missing. Build Parity.Tests, which builds Parity.Tests/GenAiCheck/GenAiCheck.csproj.");
        return path;
    }
}

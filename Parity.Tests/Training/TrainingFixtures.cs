using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SimpleTransformer.Parity.Tests.Model;
using SimpleTransformer.Training;

// Not ".Training": that namespace would hide the SimpleTransformer.Training namespace from other test folders.
namespace SimpleTransformer.Parity.Tests.TrainingTests;

/// <summary>Tiny presets, a small corpus and a way to run the training program as a child process.</summary>
internal static class TrainingFixtures
{
    /// <summary>A 2-layer model section: C = 32, H = 2, I = 64, context 32, learned positions, no dropout.</summary>
    public static JsonObject TinyModel() => new()
    {
        ["hidden_size"] = 32,
        ["num_hidden_layers"] = 2,
        ["num_attention_heads"] = 2,
        ["intermediate_size"] = 64,
        ["max_position_embeddings"] = 32,
    };

    /// <summary>4 × 32 tokens per step, warmup 3, every value small enough for a run of a few seconds.</summary>
    public static TrainingOptions TinyOptions(int maxSteps) => new()
    {
        BatchSize = 4,
        SequenceLength = 32,
        MaxSteps = maxSteps,
        LearningRate = 3e-3,
        MinLearningRate = 3e-4,
        WarmupSteps = 3,
        LogInterval = 5,
        EvalInterval = 10,
        EvalBatches = 2,
        CheckpointInterval = 100,
        KeepLast = 1,
    };

    /// <summary>
    /// Writes the first 20 documents of the bundled Brown sample, each cut to <paramref name="maxDocumentCharacters"/>,
    /// as <paramref name="name"/> in <paramref name="directory"/>, and returns its path.
    /// </summary>
    public static string WriteCorpus(string directory, string name = "corpus.txt", int maxDocumentCharacters = 3000)
    {
        var documents = SimpleTransformer.Training.Data.Corpus.SplitDocuments(File.ReadAllText(RepositoryFiles.Get("data/brown-sample.txt")));
        string path = Path.Combine(directory, name);
        File.WriteAllText(path, string.Join("\n\n", documents.Take(20).Select(d => d[..Math.Min(d.Length, maxDocumentCharacters)])));
        return path;
    }

    /// <summary>Writes a preset file with <paramref name="model"/> and <paramref name="options"/> and returns its path.</summary>
    public static string WritePreset(string directory, JsonObject model, TrainingOptions options)
    {
        var root = new JsonObject
        {
            ["model"] = model.DeepClone(),
            ["training"] = JsonSerializer.SerializeToNode(options),
        };
        string path = Path.Combine(directory, "preset.json");
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>
    /// Runs the training program (the app host copied next to the tests) with <paramref name="arguments"/>,
    /// standard output and error redirected; fails the test after <paramref name="timeout"/>.
    /// </summary>
    public static (int ExitCode, string Output, string Error) RunProgram(TimeSpan timeout, params string[] arguments)
    {
        string host = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "SimpleTransformer.Training.exe" : "SimpleTransformer.Training");
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryFiles.Root,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Starting '{host}' failed.");
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"'{host} {string.Join(' ', arguments)}' did not finish within {timeout}. Output so far: {output}");
        }

        return (process.ExitCode, output, error.Result);
    }
}

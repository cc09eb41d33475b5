using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Training.Data;
using SimpleTransformer.Training.Precision;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Memory;

/// <summary>
/// The <c>memory</c> command: reports the memory of one training step (weights, gradients, AdamW moments, measured
/// activations and the process peak) and, with <c>--compare</c>, a table over sequence lengths with and without
/// gradient checkpointing. Each configuration is measured in a child process, a fresh copy of this program started
/// with a hidden option, because the peak resident size of a process never decreases.
/// </summary>
public static class MemoryCommand
{
    private const string ResultPrefix = "step-memory: ";
    private const string MeasureOptionName = "--measure-in-process";

    /// <summary>Builds the command; <paramref name="guard"/> turns expected exceptions into an error line and exit code 1.</summary>
    public static Command Create(Func<Action, int> guard)
    {
        var preset = new Option<FileInfo>("--preset") { Description = "Model and training preset (JSON), for example models/quick.json.", Required = true };
        var corpus = new Option<FileInfo?>("--corpus") { Description = "Text whose characters form the char vocabulary (default data/brown-sample.txt); unused with the gpt2 tokenizer." };
        var sequenceLength = new Option<int?>("--sequence-length") { Description = "Tokens per sequence, T (default: the preset's sequence_length)." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Sequences per micro-batch, B (default: the preset's batch_size)." };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "Recompute each layer's activations in the backward pass." };
        var precision = new Option<TrainingPrecision?>("--precision") { Description = "fp32 or bf16 (default: the preset's precision)." };
        precision.AcceptOnlyFromAmong("fp32", "bf16");
        var tokenizer = new Option<TokenizerKind?>("--tokenizer") { Description = "char or gpt2; sets the vocabulary size (default: the preset's tokenizer)." };
        tokenizer.AcceptOnlyFromAmong("char", "gpt2");
        var threads = new Option<int?>("--threads") { Description = "TorchSharp intra-op threads (default: LibTorch's choice)." };
        var compare = new Option<int[]>("--compare")
        {
            Description = "Sequence lengths for a table with and without gradient checkpointing, for example --compare 32 64 128.",
            AllowMultipleArgumentsPerToken = true,
        };
        var measure = new Option<bool>(MeasureOptionName) { Hidden = true };

        var command = new Command("memory", "Report the memory of one training step: weights, gradients, optimizer state, activations and the process peak.")
        {
            preset, corpus, sequenceLength, batchSize, checkpointing, precision, tokenizer, threads, compare, measure,
        };
        command.SetAction(parse => guard(() =>
        {
            var presetFile = parse.GetValue(preset)!;
            var loaded = Preset.Load(presetFile.FullName);
            string corpusPath = parse.GetValue(corpus)?.FullName ?? Path.GetFullPath("data/brown-sample.txt");
            var options = loaded.Training with
            {
                SequenceLength = parse.GetValue(sequenceLength) ?? loaded.Training.SequenceLength,
                BatchSize = parse.GetValue(batchSize) ?? loaded.Training.BatchSize,
                GradientCheckpointing = parse.GetValue(checkpointing) || loaded.Training.GradientCheckpointing,
                Precision = parse.GetValue(precision) ?? loaded.Training.Precision,
                Tokenizer = parse.GetValue(tokenizer) ?? loaded.Training.Tokenizer,
            };
            var config = loaded.ModelConfigFor(VocabSize(options.Tokenizer, corpusPath));
            options.Validate(config.MaxPositions);
            if (parse.GetValue(threads) is int count)
            {
                set_num_threads(count);
            }

            if (parse.GetValue(measure))
            {
                Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(StepMemoryProbe.Measure(config, options)));
                return;
            }

            var request = new ChildRequest(presetFile.FullName, corpusPath, parse.GetValue(threads));
            var result = MeasureInChild(request, options);
            Console.Write(MemoryReport.Describe(presetFile.FullName, config, options, result));

            var lengths = parse.GetValue(compare) ?? [];
            if (lengths.Length > 0)
            {
                var rows = new List<StepMemory>();
                foreach (int length in lengths)
                {
                    foreach (bool recompute in new[] { false, true })
                    {
                        var row = options with { SequenceLength = length, GradientCheckpointing = recompute };
                        row.Validate(config.MaxPositions);
                        rows.Add(MeasureInChild(request, row));
                    }
                }

                Console.WriteLine();
                Console.Write(MemoryReport.Table(rows));
            }
        }));
        return command;
    }

    private sealed record ChildRequest(string PresetPath, string CorpusPath, int? Threads);

    /// <summary>Returns the vocabulary size the tokenizer of a new run would have.</summary>
    private static int VocabSize(TokenizerKind tokenizer, string corpusPath) =>
        tokenizer == TokenizerKind.Gpt2 ? Gpt2Tokenizer.Gpt2VocabSize : CharTokenizer.FromText(Corpus.Load(corpusPath).TrainText).VocabSize;

    /// <summary>
    /// Runs this program's <c>memory</c> command with the hidden measuring option and parses its result line.
    /// The child gets fixed glibc malloc thresholds, so freed tensors return to the system at once and the resident
    /// size before the step contains no freed memory that the step could reuse unseen.
    /// </summary>
    private static StepMemory MeasureInChild(ChildRequest request, TrainingOptions options)
    {
        var start = SelfStartInfo();
        string[] arguments =
        [
            "memory", "--preset", request.PresetPath, "--corpus", request.CorpusPath,
            "--sequence-length", options.SequenceLength.ToString(CultureInfo.InvariantCulture),
            "--batch-size", options.BatchSize.ToString(CultureInfo.InvariantCulture),
            "--precision", options.Precision == TrainingPrecision.Bf16 ? "bf16" : "fp32",
            "--tokenizer", options.Tokenizer == TokenizerKind.Gpt2 ? "gpt2" : "char",
            MeasureOptionName,
        ];
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (options.GradientCheckpointing)
        {
            start.ArgumentList.Add("--gradient-checkpointing");
        }

        if (request.Threads is int threads)
        {
            start.ArgumentList.Add("--threads");
            start.ArgumentList.Add(threads.ToString(CultureInfo.InvariantCulture));
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["MALLOC_MMAP_THRESHOLD_"] = "65536";
        start.Environment["MALLOC_TRIM_THRESHOLD_"] = "131072";

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Starting '{start.FileName}' for the memory measurement failed.");
        var error = new StringBuilder();
        process.ErrorDataReceived += (_, e) => error.AppendLine(e.Data);
        process.BeginErrorReadLine();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();

        string? line = output.Split('\n').FirstOrDefault(l => l.StartsWith(ResultPrefix, StringComparison.Ordinal));
        if (process.ExitCode != 0 || line is null)
        {
            throw new InvalidOperationException(
                $"The memory measurement for T = {options.SequenceLength}, B = {options.BatchSize} failed (exit code {process.ExitCode}): {output.Trim()} {error.ToString().Trim()}");
        }

        return JsonSerializer.Deserialize<StepMemory>(line[ResultPrefix.Length..])
            ?? throw new InvalidOperationException($"The memory measurement printed an empty result: '{line}'.");
    }

    /// <summary>
    /// Returns a start description for a fresh copy of this program: the app host itself, or the .NET host with this
    /// assembly when the program runs as <c>dotnet SimpleTransformer.Training.dll</c> or inside another host.
    /// </summary>
    private static ProcessStartInfo SelfStartInfo()
    {
        string assembly = typeof(MemoryCommand).Assembly.Location;
        string process = Environment.ProcessPath ?? "dotnet";
        if (Path.GetFileNameWithoutExtension(process) == Path.GetFileNameWithoutExtension(assembly))
        {
            return new ProcessStartInfo(process);
        }

        string host = Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? process
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo(host);
        start.ArgumentList.Add(assembly);
        return start;
    }
}

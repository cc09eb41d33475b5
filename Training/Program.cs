using System.CommandLine;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Training.Logging;
using SimpleTransformer.Training.Memory;
using SimpleTransformer.Training.Precision;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Training;

/// <summary>The <c>SimpleTransformer.Training</c> command line.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var preset = new Option<FileInfo?>("--preset") { Description = "Model and training preset (JSON), for example models/quick.json. Required for a new run." };
        var corpus = new Option<FileInfo?>("--corpus") { Description = "UTF-8 training text; blank lines separate documents. Default for a new run: data/brown-sample.txt." };
        var output = new Option<DirectoryInfo>("--output") { Description = "Run directory for checkpoints and metrics.", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --output." };
        var threads = new Option<int?>("--threads") { Description = "TorchSharp intra-op threads (default: LibTorch's choice, usually the core count)." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Override the preset's max_steps (optimizer steps)." };
        var stopAfter = new Option<long?>("--stop-after") { Description = "Stop after this step without changing the schedule (the run can be resumed)." };
        var precision = new Option<TrainingPrecision?>("--precision")
        {
            Description = "fp32, or bf16 (forward and backward passes in bfloat16, fp32 master weights and optimizer state). Overrides the preset or the resumed run.",
        };
        precision.AcceptOnlyFromAmong("fp32", "bf16");
        var tokenizer = new Option<TokenizerKind?>("--tokenizer")
        {
            Description = "Tokenizer of a new run: char (built from the corpus) or gpt2 (GPT-2 BPE, 50,257 ids). Overrides the preset.",
        };
        tokenizer.AcceptOnlyFromAmong("char", "gpt2");

        var train = new Command("train", "Train a model on a text corpus and write checkpoints to --output.")
        {
            preset, corpus, output, resume, threads, maxSteps, stopAfter, precision, tokenizer,
        };
        train.SetAction(parse => Guard(() =>
        {
            Preset? loaded = null;
            if (parse.GetValue(preset) is FileInfo presetFile)
            {
                loaded = Preset.Load(presetFile.FullName);
                if (parse.GetValue(maxSteps) is int steps)
                {
                    loaded = loaded with { Training = loaded.Training with { MaxSteps = steps } };
                }

                if (parse.GetValue(tokenizer) is TokenizerKind kind)
                {
                    loaded = loaded with { Training = loaded.Training with { Tokenizer = kind } };
                }
            }
            else if (!parse.GetValue(resume))
            {
                throw new ArgumentException("A new run needs --preset (for example --preset models/quick.json), or pass --resume to continue a run.");
            }

            bool isResume = parse.GetValue(resume);
            if (isResume && parse.GetValue(tokenizer) is not null)
            {
                throw new ArgumentException("--tokenizer applies to new runs only; a resumed run keeps the tokenizer.json of its checkpoint. Remove --tokenizer.");
            }

            if (isResume && (parse.GetValue(maxSteps) is not null || parse.GetValue(preset) is not null))
            {
                throw new ArgumentException(
                    "--max-steps and --preset apply to new runs only; a resumed run keeps the schedule saved in its checkpoint, so that it repeats the uninterrupted run. Remove them, or use --stop-after to end earlier.");
            }

            if (parse.GetValue(threads) is int threadCount && threadCount < 1)
            {
                throw new ArgumentException($"--threads is {threadCount}; pass a positive number of threads, or leave it out to use LibTorch's default.");
            }

            if (parse.GetValue(stopAfter) is long stopStep && stopStep < 1)
            {
                throw new ArgumentException($"--stop-after is {stopStep}; pass a step number of 1 or more.");
            }

            string? corpusPath = parse.GetValue(corpus)?.FullName ?? (isResume ? null : Path.GetFullPath("data/brown-sample.txt"));
            var request = new TrainRequest
            {
                RunDirectory = parse.GetValue(output)!.FullName,
                CorpusPath = corpusPath,
                Preset = loaded,
                Resume = isResume,
                Threads = parse.GetValue(threads),
                StopAfterStep = parse.GetValue(stopAfter),
                Precision = parse.GetValue(precision),
            };

            // The bar exists only on an interactive terminal; redirected output receives the log lines alone.
            using var bar = ConsoleProgressBar.ForConsole();
            Action<string> log = bar is null ? Console.WriteLine : bar.WriteLine;
            var result = Trainer.Trainer.Run(request, log, stepCompleted: bar is null ? null : bar.Update);
            log($"final checkpoint: {result.LastCheckpoint}");
        }));

        var root = new RootCommand("Train SimpleTransformer language models with TorchSharp.")
        {
            train,
            MemoryCommand.Create(Guard),
        };
        return root.Parse(args).Invoke();
    }

    /// <summary>Runs a command body and turns expected failures into one error line and exit code 1.</summary>
    internal static int Guard(Action body)
    {
        try
        {
            body();
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException
            or InvalidModelConfigException or InvalidTokenizerException or InvalidCheckpointException or NonFiniteLossException
            or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            if (Environment.GetEnvironmentVariable("SIMPLE_TRANSFORMER_TRACE") == "1") Console.Error.WriteLine(e);
            return 1;
        }
    }
}

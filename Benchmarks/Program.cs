using System.CommandLine;
using System.Diagnostics;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Report;
using SimpleTransformer.Benchmarks.Sections;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Benchmarks;

/// <summary>The <c>SimpleTransformer.Benchmarks</c> command line: one command per part, and <c>all</c>.</summary>
public static class Program
{
    /// <summary>The parts in the order <c>all</c> runs them, with their command names and descriptions.</summary>
    private static readonly (string Name, string Description, Action<BenchmarkRun> Run)[] Parts =
    [
        ("generation", "Per-token latency of the library against TorchSharp and ONNX Runtime with and without a cache, and PyTorch, at batch 1 and 8.", GenerationSection.Run),
        ("context", "Per-token latency at growing context lengths, with and without a cache, and the chart.", ContextSection.Run),
        ("floor", "Decoding latency against memory bandwidth and ONNX Runtime's fixed run and node costs.", FloorSection.Run),
        ("graphs", "The standard against the optimized (fused-operator) export, and fp32 against fp16 where a GPU is present.", GraphSection.Run),
        ("prefill", "Prompt processing speed in tokens per second.", PrefillSection.Run),
        ("memory", "Managed bytes allocated per token and resident memory.", MemorySection.Run),
        ("micro", "BenchmarkDotNet cases: one decoding step and the cost of sampling.", MicroSection.Run),
        ("training", "Training tokens per second and model FLOP utilisation for each preset in models/, with a per-operator breakdown.", TrainingSection.Run),
    ];

    /// <summary>Parses the command line, runs the chosen parts and returns the process exit code.</summary>
    public static int Main(string[] args)
    {
        var quick = new Option<bool>("--quick") { Description = "The short setting: fewer rounds and steps, a few minutes in all on two cores.", Recursive = true };
        var tiny = new Option<bool>("--tiny") { Description = "A tiny model and one round of everything, seconds in all: checks that the program runs, and the numbers mean nothing.", Recursive = true };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads for TorchSharp, ONNX Runtime and PyTorch (default 1).", DefaultValueFactory = _ => 1, Recursive = true };
        var output = new Option<DirectoryInfo?>("--output")
        {
            Description = $"Directory for {ReportWriter.FileName} and {ContextChart.FileName}. Default for 'all': docs/ of the repository. Other commands only print unless it is given.",
            Recursive = true,
        };
        var python = new Option<string>("--python")
        {
            Description = "Python interpreter with PyTorch for the PyTorch comparison (default /usr/bin/python3, Debian's python3-torch). Without PyTorch the comparison is skipped with a note.",
            DefaultValueFactory = _ => "/usr/bin/python3",
            Recursive = true,
        };

        var root = new RootCommand("Measure SimpleTransformer's training throughput and generation latency on this machine.");
        root.Options.Add(quick);
        root.Options.Add(tiny);
        root.Options.Add(threads);
        root.Options.Add(output);
        root.Options.Add(python);

        var all = new Command("all", "Run every part and write docs/benchmarks.md and docs/benchmarks-context.png.");
        all.SetAction(parse => Execute(args, () => Settings(parse.GetValue(quick), parse.GetValue(tiny), parse.GetValue(threads)), [.. Parts.Select(p => p.Run)],
            () => parse.GetValue(output)?.FullName ?? Path.Combine(RepositoryRoot(), "docs"), parse.GetValue(python)!));
        root.Subcommands.Add(all);
        foreach (var (name, description, part) in Parts)
        {
            var command = new Command(name, description);
            command.SetAction(parse => Execute(args, () => Settings(parse.GetValue(quick), parse.GetValue(tiny), parse.GetValue(threads)), [part],
                () => parse.GetValue(output)?.FullName, parse.GetValue(python)!));
            root.Subcommands.Add(command);
        }

        return root.Parse(args).Invoke();
    }

    private static BenchmarkSettings Settings(bool quick, bool tiny, int threads)
    {
        if (quick && tiny)
        {
            throw new ArgumentException("--quick and --tiny select different settings. Pass at most one of them.");
        }

        string name = "full";
        if (tiny)
        {
            name = "tiny";
        }
        else if (quick)
        {
            name = "quick";
        }

        return BenchmarkSettings.For(name, threads);
    }

    // Settings and the output directory are resolved inside the error handling, so an invalid option ends with one error line.
    private static int Execute(string[] args, Func<BenchmarkSettings> chooseSettings, IReadOnlyList<Action<BenchmarkRun>> parts, Func<string?> chooseOutput, string python)
    {
        try
        {
            var settings = chooseSettings();
            string? outputDirectory = chooseOutput();
            var clock = Stopwatch.StartNew();
            using var run = new BenchmarkRun(settings, RepositoryRoot(), python, line => Console.Error.WriteLine(line));
            run.Log($"setting {settings.Name}, {settings.Threads} thread(s), load average {run.LoadBefore}");
            foreach (var part in parts)
            {
                part(run);
            }

            string command = "dotnet run -c Release --project Benchmarks -- " + string.Join(" ", args);
            string page = ReportWriter.Render(run, command, MachineInfo.LoadAverage(), clock.Elapsed);
            Console.WriteLine(page);
            if (outputDirectory is not null)
            {
                ReportWriter.Write(run, page, outputDirectory);
                run.Log($"wrote {Path.Combine(outputDirectory, ReportWriter.FileName)}");
            }

            return 0;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException
            or InvalidModelConfigException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    // The benchmark reads models/ and data/ of the repository, which is found above the working directory or the program.
    private static string RepositoryRoot()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "SimpleTransformer.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException(
            $"SimpleTransformer.sln was not found above '{Environment.CurrentDirectory}' or '{AppContext.BaseDirectory}'. Run the benchmark from the repository.");
    }
}

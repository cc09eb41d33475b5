using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Models;
using SimpleTransformer.Benchmarks.Report;

namespace SimpleTransformer.Benchmarks;

/// <summary>
/// The state every part of one benchmark run shares: the settings, the repository, a temporary working directory,
/// the benchmark model (created on first use), and the sections, targets and chart data measured so far.
/// </summary>
public sealed class BenchmarkRun : IDisposable
{
    private readonly Lazy<BenchmarkModel> _model;

    /// <summary>Creates the working directory under the system's temporary directory.</summary>
    public BenchmarkRun(BenchmarkSettings settings, string repositoryRoot, string python, Action<string> log)
    {
        Settings = settings.Validate();
        RepositoryRoot = repositoryRoot;
        Python = python;
        Log = log;
        WorkDirectory = Path.Combine(Path.GetTempPath(), $"simpletransformer-benchmarks-{Environment.ProcessId}");
        Directory.CreateDirectory(WorkDirectory);
        Machine = MachineInfo.Read();
        LoadBefore = MachineInfo.LoadAverage();
        _model = new Lazy<BenchmarkModel>(() =>
        {
            var config = BenchmarkModel.ConfigFor(RepositoryRoot, Settings.PresetShapes, Settings.ContextLength, BenchmarkModel.Alphabet.Length + 3);
            Log($"creating the benchmark model ({config.NumLayers} layers, C = {config.HiddenSize}, context {config.MaxPositions}) and exporting it");
            return BenchmarkModel.Create(config, Path.Combine(WorkDirectory, "model"), seed: 1234);
        });
    }

    /// <summary>The validated settings.</summary>
    public BenchmarkSettings Settings { get; }

    /// <summary>The repository root (the directory of <c>SimpleTransformer.sln</c>).</summary>
    public string RepositoryRoot { get; }

    /// <summary>The Python interpreter for the PyTorch comparison.</summary>
    public string Python { get; }

    /// <summary>Receives progress lines.</summary>
    public Action<string> Log { get; }

    /// <summary>A temporary directory for models and training runs, deleted on dispose.</summary>
    public string WorkDirectory { get; }

    /// <summary>The machine description.</summary>
    public MachineInfo Machine { get; }

    /// <summary>The load averages when the run started.</summary>
    public string LoadBefore { get; }

    /// <summary>The benchmark model: the quick preset's shape (or a tiny one) with seeded random weights, exported both ways.</summary>
    public BenchmarkModel Model => _model.Value;

    /// <summary>The measured sections, in the order they ran.</summary>
    public List<ReportSection> Sections { get; } = [];

    /// <summary>Every target checked so far.</summary>
    public List<TargetResult> Targets { get; } = [];

    /// <summary>Key results by name (seconds, ratios, fractions), from which the findings are written.</summary>
    public Dictionary<string, double> Metrics { get; } = new(StringComparer.Ordinal);

    /// <summary>Per-token latency against context length for the chart: series name to (context, seconds) points.</summary>
    public Dictionary<string, List<(double Context, double Seconds)>> ContextSeries { get; } = new(StringComparer.Ordinal);

    /// <summary>Deletes the working directory and disposes the model.</summary>
    public void Dispose()
    {
        if (_model.IsValueCreated)
        {
            _model.Value.Dispose();
        }

        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log($"warning: the temporary directory '{WorkDirectory}' could not be deleted: {e.Message}");
        }
    }
}

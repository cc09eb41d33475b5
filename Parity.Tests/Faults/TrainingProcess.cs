using System.Collections.Concurrent;
using System.Diagnostics;
using SimpleTransformer.Parity.Tests.Model;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>
/// The training program running as a child process (<c>dotnet SimpleTransformer.Training.dll train ...</c>, the
/// copy next to the test assembly), with its output lines collected as they arrive so a test can kill it at a
/// chosen moment.
/// </summary>
internal sealed class TrainingProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string> _error = new();
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TrainingProcess(IEnumerable<string> arguments)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "SimpleTransformer.Training.dll");
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryFiles.Root,
        };
        start.ArgumentList.Add(dll);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Collect(e.Data, _output, _outputClosed);
        _process.ErrorDataReceived += (_, e) => Collect(e.Data, _error, _errorClosed);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Standard output lines received so far.</summary>
    public IReadOnlyCollection<string> Output => _output;

    /// <summary>Standard error lines received so far.</summary>
    public IReadOnlyCollection<string> Error => _error;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code; valid after <see cref="WaitForExit"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>train</c> with <paramref name="arguments"/>.</summary>
    public static TrainingProcess StartTrain(params string[] arguments) => new(["train", .. arguments]);

    /// <summary>Runs <c>train</c> to the end and returns its exit code and output; fails the test after <paramref name="timeout"/>.</summary>
    public static (int ExitCode, string[] Output, string[] Error) RunTrain(TimeSpan timeout, params string[] arguments)
    {
        using var process = StartTrain(arguments);
        process.WaitForExit(timeout);
        return (process.ExitCode, [.. process.Output], [.. process.Error]);
    }

    /// <summary>Waits for the exit and for the end of both output streams; kills the process and fails after <paramref name="timeout"/>.</summary>
    public void WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            Kill();
            Assert.Fail($"The training program did not finish within {timeout.TotalSeconds} s. Output: {string.Join("\n", _output.TakeLast(5))}");
        }

        Task.WaitAll([_outputClosed.Task, _errorClosed.Task], TimeSpan.FromSeconds(10));
    }

    /// <summary>Kills the process and its children at once (SIGKILL on Linux) and waits until it is gone.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited on its own in the meantime.
        }

        _process.WaitForExit();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }

    private static void Collect(string? line, ConcurrentQueue<string> lines, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
        }
        else
        {
            lines.Enqueue(line);
        }
    }

    // `dotnet test` sets DOTNET_HOST_PATH to the host that runs the tests; a plain `dotnet` from PATH is the fallback.
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}

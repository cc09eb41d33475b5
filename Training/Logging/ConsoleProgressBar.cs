using System.Diagnostics;
using System.Globalization;

namespace SimpleTransformer.Training.Logging;

/// <summary>
/// A one-line progress bar with an ETA, redrawn in place with a carriage return below the log lines. Create it
/// through <see cref="ForConsole"/>, which returns null when standard output is redirected, so files and pipes
/// receive only the log lines.
/// </summary>
public sealed class ConsoleProgressBar : IDisposable
{
    private const string EraseLine = "\r\u001b[2K";
    private static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);

    private readonly TextWriter _output;
    private readonly Func<int> _width;
    private readonly Stopwatch _clock = new();
    private readonly Lock _lock = new();
    private long _firstStep = -1;
    private long _step;
    private long _lastStep;
    private TimeSpan? _lastDrawn;
    private bool _visible;

    /// <summary>Draws on <paramref name="output"/>, cut to <paramref name="width"/> columns.</summary>
    public ConsoleProgressBar(TextWriter output, Func<int> width)
    {
        _output = output;
        _width = width;
    }

    /// <summary>Returns a bar on the console when standard output is a terminal, otherwise null.</summary>
    public static ConsoleProgressBar? ForConsole() =>
        Console.IsOutputRedirected ? null : new ConsoleProgressBar(Console.Out, TerminalWidth);

    /// <summary>Returns the usable width of the terminal, 79 when the terminal reports none (a pseudo-terminal of size 0).</summary>
    private static int TerminalWidth()
    {
        try
        {
            int width = Console.WindowWidth;
            return width > 0 ? Math.Max(40, width - 1) : 79;
        }
        catch (IOException)
        {
            return 79;
        }
    }

    /// <summary>Writes a log line above the bar.</summary>
    public void WriteLine(string line)
    {
        lock (_lock)
        {
            Erase();
            _output.WriteLine(line);
            Draw();
        }
    }

    /// <summary>Records that <paramref name="step"/> of <paramref name="lastStep"/> steps is done and redraws at most ten times a second.</summary>
    public void Update(long step, long lastStep)
    {
        lock (_lock)
        {
            if (_firstStep < 0)
            {
                _firstStep = step;
                _clock.Start();
            }

            _step = step;
            _lastStep = lastStep;
            if (_lastDrawn is not TimeSpan drawn || _clock.Elapsed - drawn >= RedrawInterval || step == lastStep)
            {
                Erase();
                Draw();
            }
        }
    }

    /// <summary>Formats the bar: filled fraction, step count, percentage and the remaining time at the rate since the first update.</summary>
    public string Render()
    {
        double fraction = _lastStep > 0 ? Math.Clamp((double)_step / _lastStep, 0, 1) : 0;
        string eta = "--:--:--";
        long done = _step - _firstStep;
        if (done > 0)
        {
            var remaining = TimeSpan.FromSeconds(_clock.Elapsed.TotalSeconds / done * (_lastStep - _step));
            eta = remaining.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
        }

        string counts = string.Create(CultureInfo.InvariantCulture, $" {_step}/{_lastStep} {fraction * 100,3:F0}% ETA {eta}");
        int barWidth = Math.Max(10, _width() - counts.Length - 2);
        int filled = (int)Math.Round(fraction * barWidth);
        string line = "[" + new string('#', filled) + new string('.', barWidth - filled) + "]" + counts;
        return line.Length > _width() ? line[.._width()] : line;
    }

    /// <summary>Removes the bar, leaving the cursor at the start of an empty line.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            Erase();
            _output.Flush();
        }
    }

    private void Draw()
    {
        if (_firstStep < 0)
        {
            return;
        }

        _output.Write(Render());
        _output.Flush();
        _lastDrawn = _clock.Elapsed;
        _visible = true;
    }

    private void Erase()
    {
        if (_visible)
        {
            _output.Write(EraseLine);
            _visible = false;
        }
    }
}

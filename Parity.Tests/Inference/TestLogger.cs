using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace SimpleTransformer.Parity.Tests.Inference;

/// <summary>An <see cref="ILogger"/> that keeps every message, so tests can check what the library logged.</summary>
internal sealed class TestLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        Entries.Enqueue((logLevel, formatter(state, exception)));
    }
}

using Microsoft.Extensions.Logging;

namespace Inspection.Cli;

internal static class Logging
{
    /// <summary>
    /// Single-line logs on stderr, so stdout carries only results: "12:03:04 info: Category[0] message". Each line is
    /// written as it is logged to the Console.Error of that moment, which is the live progress display's while bars
    /// show (<see cref="ConsoleProgress"/>): the console logger keeps the writer it starts with, and its lines would
    /// land inside the bars.
    /// </summary>
    public static ILoggerFactory Create(bool verbose) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning)
        .AddProvider(new StandardErrorLoggerProvider()));

    private sealed class StandardErrorLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new StandardErrorLogger(categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class StandardErrorLogger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var level = logLevel switch
            {
                LogLevel.Trace => "trce",
                LogLevel.Debug => "dbug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var error = exception is null ? string.Empty : " " + exception.ToString().ReplaceLineEndings(" ");
            Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {level}: {category}[{eventId.Id}] {formatter(state, exception)}{error}");
        }
    }
}

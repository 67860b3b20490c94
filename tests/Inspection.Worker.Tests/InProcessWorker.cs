using Inspection.Core;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Worker.Tests;

/// <summary>
/// The worker's own services (real cameras, model, rules and sinks) in this test process on a generic host,
/// without HTTP: the pipeline's logic tested without a separate process for every case. Settings are given as
/// configuration paths and read, and checked, as the worker reads them.
/// </summary>
internal sealed class InProcessWorker : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly LineLogger _log;

    private InProcessWorker(IHost host, LineLogger log) => (_host, _log) = (host, log);

    public IServiceProvider Services => _host.Services;

    /// <summary>Every log line so far, as "Category: message".</summary>
    public IReadOnlyList<string> Lines => _log.Lines;

    public T Get<T>()
        where T : notnull => _host.Services.GetRequiredService<T>();

    public static async Task<InProcessWorker> StartAsync(IReadOnlyDictionary<string, string> settings, Action<IServiceCollection>? services = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))).Build();
        var (options, problems) = WorkerConfiguration.Read(configuration);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var log = new LineLogger();
        builder.Logging.AddProvider(log).SetMinimumLevel(LogLevel.Information);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        WorkerApp.AddServices(builder.Services, options);
        services?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return new InProcessWorker(host, log);
    }

    /// <summary>Stops as SIGTERM does: cameras first, the frames taken are inspected and handed to the sinks, then the sinks flush.</summary>
    public Task StopAsync() => _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        await ((IAsyncDisposable)_host).DisposeAsync(); // the host's Dispose would block a pool thread waiting for this
    }

    private sealed class LineLogger : ILoggerProvider
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(LineLogger owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner._lines)
                {
                    owner._lines.Add($"{category}: {formatter(state, exception)}");
                }
            }
        }
    }
}

/// <summary>A sink of the seam that keeps what it is given, in order: what the worker said, read back in-process.</summary>
internal sealed class RecordingSink(string name = "recording", SinkFullPolicy policy = SinkFullPolicy.Block, int capacity = 1024) : IResultSink
{
    private readonly List<SinkItem> _items = [];

    public string Name => name;

    public SinkBufferOptions Buffer { get; } = new() { Capacity = capacity, Policy = policy };

    /// <summary>Set to make every write wait: a stalled output.</summary>
    public ManualResetEventSlim Open { get; } = new(initialState: true);

    public List<SinkItem> Items
    {
        get
        {
            lock (_items)
            {
                return [.. _items];
            }
        }
    }

    public List<InspectionResult> Results => [.. Items.Where(i => i.Kind == SinkItemKind.Result).Select(i => i.Result!)];

    public Task StartAsync(CancellationToken cancel) => Task.CompletedTask;

    public ValueTask WriteAsync(SinkItem item, CancellationToken cancel)
    {
        Open.Wait(cancel);
        lock (_items)
        {
            _items.Add(item);
        }

        return ValueTask.CompletedTask;
    }

    public Task<bool> FlushAsync(TimeSpan deadline) => Task.FromResult(true);

    public ValueTask DisposeAsync()
    {
        Open.Dispose();
        return ValueTask.CompletedTask;
    }
}

using System.Diagnostics;
using System.Threading.Channels;
using Inspection.Core;
using Inspection.Worker.Configuration;
using Inspection.Worker.Observability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Inspection.Worker.Output;

/// <summary>
/// The end of the pipeline: every result, camera state, service event and reply goes to each configured
/// <see cref="IResultSink"/> through a bounded buffer and a writer of its own, so a slow or failing sink holds up
/// neither the others nor the detector; only a sink whose policy is <see cref="SinkFullPolicy.Block"/> makes the
/// worker wait for room. Drops and failures are counted per sink. Started before the pipeline and stopped after
/// it: at shutdown each buffer is written out and each sink flushed within the shutdown's time.
/// </summary>
public sealed class SinkFanOut : IHostedService, IAsyncDisposable
{
    private readonly List<Lane> _lanes;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abort = new();
    private readonly TimeSpan _shutdown;
    private volatile bool _closed;
    private int _disposed;

    public SinkFanOut(IEnumerable<IResultSink> sinks, IOptions<InspectionOptions> options, WorkerMetrics metrics, ILogger<SinkFanOut> logger)
    {
        _logger = logger;
        _shutdown = options.Value.ShutdownTimeout;
        _lanes = [.. sinks.Select(s => new Lane(s, metrics, logger))];
        if (_lanes.GroupBy(l => l.Sink.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new InvalidOperationException($"Two sinks are named '{twice.Key}'; sink names must be unique.");
        }

        metrics.BeforeScrape(() =>
        {
            foreach (var lane in _lanes)
            {
                lane.Depth.Set(lane.Waiting);
            }
        });
    }

    public IReadOnlyList<IResultSink> Sinks => [.. _lanes.Select(l => l.Sink)];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var lane in _lanes)
        {
            await lane.Sink.StartAsync(cancellationToken).ConfigureAwait(false);
            lane.Start(_abort.Token);
            _logger.LogInformation("Output {Sink}: buffer of {Capacity}, {Policy} when full.", lane.Sink.Name, lane.Sink.Buffer.Capacity, lane.Sink.Buffer.Policy);
        }
    }

    /// <summary>Hands <paramref name="item"/> to every sink's buffer; waits only for a full buffer whose policy is Block. False once stopped.</summary>
    public async ValueTask<bool> PublishAsync(SinkItem item)
    {
        if (_closed)
        {
            return false;
        }

        var accepted = true;
        foreach (var lane in _lanes)
        {
            accepted &= await lane.WriteAsync(item).ConfigureAwait(false);
        }

        return accepted;
    }

    /// <summary>Writes out what waits in every buffer, then flushes each sink, all within the host's shutdown time.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _closed = true;
        var started = Stopwatch.StartNew();
        foreach (var lane in _lanes)
        {
            lane.Complete();
        }

        var drained = Task.WhenAll(_lanes.Select(l => l.Done));
        await Task.WhenAny(drained, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        if (!drained.IsCompleted)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
            foreach (var lane in _lanes.Where(l => !l.Done.IsCompleted))
            {
                _logger.LogWarning("Output {Sink} did not take its last {Count} items before shutdown.", lane.Sink.Name, lane.Waiting);
            }
        }

        foreach (var lane in _lanes)
        {
            var left = TimeSpan.FromSeconds(Math.Max(0.1, (_shutdown - started.Elapsed).TotalSeconds));
            if (!cancellationToken.IsCancellationRequested && !await lane.Sink.FlushAsync(left).ConfigureAwait(false))
            {
                _logger.LogWarning("Output {Sink} did not flush within shutdown.", lane.Sink.Name);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // registered both as a service and as a hosted service: disposed twice
        }

        _closed = true;
        foreach (var lane in _lanes)
        {
            lane.Complete();
            await lane.Sink.DisposeAsync().ConfigureAwait(false);
        }

        _abort.Dispose();
    }

    /// <summary>One sink's buffer and the task that writes it, in order.</summary>
    private sealed class Lane
    {
        private readonly Channel<SinkItem> _buffer;
        private readonly ILogger _logger;
        private readonly Counter.Child _written;
        private readonly Counter.Child _failed;
        private readonly Histogram.Child _writeTime;
        private long _lastFailureLog;

        public Lane(IResultSink sink, WorkerMetrics metrics, ILogger logger)
        {
            Sink = sink;
            _logger = logger;
            _written = metrics.SinkItems.WithLabels(sink.Name, "written");
            _failed = metrics.SinkItems.WithLabels(sink.Name, "failed");
            var dropped = metrics.SinkItems.WithLabels(sink.Name, "dropped");
            _writeTime = metrics.SinkWrite.WithLabels(sink.Name);
            Depth = metrics.SinkQueueDepth.WithLabels(sink.Name);
            var mode = sink.Buffer.Policy switch
            {
                SinkFullPolicy.Block => BoundedChannelFullMode.Wait,
                SinkFullPolicy.DropOldest => BoundedChannelFullMode.DropOldest,
                _ => BoundedChannelFullMode.DropWrite,
            };
            _buffer = Channel.CreateBounded<SinkItem>(new BoundedChannelOptions(sink.Buffer.Capacity) { SingleReader = true, FullMode = mode }, _ => dropped.Inc());
        }

        public IResultSink Sink { get; }

        public Gauge.Child Depth { get; }

        public int Waiting => _buffer.Reader.Count;

        public Task Done { get; private set; } = Task.CompletedTask;

        public void Start(CancellationToken abort) => Done = Task.Run(() => WriteAllAsync(abort), CancellationToken.None);

        public async ValueTask<bool> WriteAsync(SinkItem item)
        {
            if (_buffer.Writer.TryWrite(item))
            {
                return true;
            }

            try
            {
                await _buffer.Writer.WriteAsync(item).ConfigureAwait(false); // only a Block buffer gets here
                return true;
            }
            catch (ChannelClosedException)
            {
                return false;
            }
        }

        public void Complete() => _buffer.Writer.TryComplete();

        private async Task WriteAllAsync(CancellationToken abort)
        {
            await foreach (var item in _buffer.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (abort.IsCancellationRequested)
                {
                    return;
                }

                var start = Stopwatch.GetTimestamp();
                try
                {
                    await Sink.WriteAsync(item, abort).ConfigureAwait(false);
                    _written.Inc();
                }
                catch (Exception e) when (!abort.IsCancellationRequested)
                {
                    _failed.Inc();
                    // One line per sink every 10 s at most: a sink whose server is gone fails every item.
                    var now = Environment.TickCount64;
                    if (now - _lastFailureLog >= 10_000)
                    {
                        _lastFailureLog = now;
                        _logger.LogWarning("Output {Sink} could not take a {Kind}: {Reason}", Sink.Name, item.Kind, e.GetBaseException().Message);
                    }
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                _writeTime.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
    }
}

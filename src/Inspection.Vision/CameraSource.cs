using System.Diagnostics;
using System.Threading.Channels;
using Inspection.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inspection.Vision;

/// <summary>
/// One camera on its own thread: opens its source, reads frames into pooled buffers, checks their integrity and
/// offers them through a bounded buffer with an explicit policy. It reconnects with exponential back-off and
/// jitter, a watchdog restarts it when frames stop, and every state change is announced. One camera failing
/// never touches another.
/// </summary>
public sealed class CameraSource : IAsyncDisposable
{
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMilliseconds(200);

    private readonly CameraOptions _options;
    private readonly SourceLocation _location;
    private readonly ILogger _logger;
    private readonly Channel<Frame> _channel;
    private readonly FramePool _pool;
    private readonly FrameIntegrityChecker _integrity;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private readonly Timer _watchdog;
    private readonly long _minimumInterval;
    private IFrameReader? _reader;
    private SourceStatus _status;
    private long _read;
    private long _dropped;
    private long _delivered;
    private long _decoded;
    private long _lastFrame;
    private long _lastKept;
    private long _windowStart;
    private long _windowFrames;
    private double _fps;
    private int _attempt;
    private volatile bool _stalled;
    private int _disposed;

    /// <summary>Checks the camera's URI now: an unknown scheme or a malformed device throws <see cref="SourceException"/>.</summary>
    public CameraSource(CameraOptions options, ILogger? logger = null)
    {
        _options = options;
        _location = SourceLocation.Resolve(options);
        _logger = logger ?? NullLogger.Instance;
        _pool = new FramePool(options.BufferCapacity + (options.MaxFramesInFlight ?? CameraOptions.DefaultFramesInFlight));
        _integrity = new FrameIntegrityChecker(options.Integrity);
        _channel = options.Policy == BufferPolicy.DropOldest
            ? Channel.CreateBounded<Frame>(new BoundedChannelOptions(options.BufferCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true }, OnBufferDropped)
            : Channel.CreateBounded<Frame>(new BoundedChannelOptions(options.BufferCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleWriter = true });
        Frames = new CountingReader(_channel.Reader, this);
        _minimumInterval = options.MaxFps > 0 ? (long)(Stopwatch.Frequency / options.MaxFps) : 0;
        _status = new SourceStatus(options.Id, SourceState.Connecting, null, DateTimeOffset.UtcNow);
        _thread = new Thread(Run) { IsBackground = true, Name = $"camera-{options.Id}" };
        _watchdog = new Timer(_ => Watch(), null, Timeout.Infinite, Timeout.Infinite);
    }

    public string CameraId => _options.Id;

    public SourceLocation Location => _location;

    public SourceStatus Status => Volatile.Read(ref _status);

    public SourceState State => Status.State;

    /// <summary>Raised on the camera's thread at every state change; handlers must return quickly.</summary>
    public event EventHandler<SourceStatus>? StatusChanged;

    /// <summary>The camera's frames. Dispose each frame when done with it: that returns its buffer.</summary>
    public ChannelReader<Frame> Frames { get; }

    /// <summary>What the source learned when it last opened the stream.</summary>
    public StreamInfo? Stream { get; private set; }

    public SourceCounters Counters => new(Interlocked.Read(ref _read), Interlocked.Read(ref _dropped), Interlocked.Read(ref _delivered), Interlocked.Read(ref _decoded));

    /// <summary>Frames read per second over the last second or so.</summary>
    public double FramesPerSecond => Volatile.Read(ref _fps);

    /// <summary>Completes when the camera has stopped for good.</summary>
    public Task Completion => _completion.Task;

    public void Start()
    {
        _thread.Start();
        _watchdog.Change(WatchdogPeriod, WatchdogPeriod);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        Volatile.Read(ref _reader)?.Abort();
        await _watchdog.DisposeAsync();
        if (_thread.IsAlive)
        {
            await _completion.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }

        // Frames nobody took are read and never delivered: dropped, so the counts still add up.
        _channel.Writer.TryComplete();
        while (_channel.Reader.TryRead(out var left))
        {
            OnBufferDropped(left);
        }

        _pool.Dispose();
        _stop.Dispose();
    }

    private void Run()
    {
        if (!CameraThread.Lower(_options.Nice))
        {
            _logger.LogDebug("Camera {Camera}'s thread keeps its priority: setting its nice value to {Nice} was refused.", _options.Id, _options.Nice);
        }

        var stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                SetState(SourceState.Connecting, null);
                string reason;
                using (var reader = CreateReader(stop))
                {
                    Volatile.Write(ref _reader, reader);
                    try
                    {
                        Stream = reader.Open(stop);
                        Volatile.Write(ref _lastFrame, Stopwatch.GetTimestamp());
                        var ended = Pump(reader, stop);
                        if (stop.IsCancellationRequested)
                        {
                            break;
                        }

                        if (ended && !_stalled && _location.IsFinite && !_options.Loop)
                        {
                            SetState(SourceState.Stopped, "end of the file");
                            break;
                        }

                        reason = "the stream ended";
                    }
                    catch (Exception) when (stop.IsCancellationRequested)
                    {
                        break; // stopping aborted the read
                    }
                    catch (SourceException e) when (!e.Retryable)
                    {
                        SetState(SourceState.Stopped, e.Message);
                        break;
                    }
                    catch (Exception e)
                    {
                        reason = e is SourceException ? e.Message : $"{e.GetType().Name}: {e.Message}";
                    }
                    finally
                    {
                        Volatile.Write(ref _reader, null);
                    }
                }

                if (stop.IsCancellationRequested)
                {
                    break;
                }

                if (_stalled)
                {
                    reason = $"no frame for {StallTimeout.TotalSeconds:0.#} s";
                    _stalled = false;
                }

                var delay = Backoff.Delay(_attempt++, _options.ReconnectInitialDelay, _options.ReconnectMaxDelay);
                SetState(SourceState.Reconnecting, reason.TrimEnd('.'), delay);
                stop.WaitHandle.WaitOne(delay);
            }
        }
        catch (Exception e)
        {
            // Nothing a camera meets may take the process down; it stops and says why.
            _logger.LogError(e, "Camera {Camera} failed", _options.Id);
            SetState(SourceState.Stopped, $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            if (State != SourceState.Stopped)
            {
                SetState(SourceState.Stopped, "stopped");
            }

            _channel.Writer.TryComplete();
            _completion.TrySetResult();
        }
    }

    /// <summary>Reads until the stream ends (true) or the camera stops (false).</summary>
    private bool Pump(IFrameReader reader, CancellationToken stop)
    {
        var wait = _options.Policy == BufferPolicy.DropOldest ? TimeSpan.Zero : TimeSpan.FromMilliseconds(100);
        while (!stop.IsCancellationRequested)
        {
            if (SurelyTooSoon())
            {
                // The rate cap would drop the next frame: take it from the source without decoding it into a buffer.
                if (!reader.Skip())
                {
                    return true;
                }

                Arrived(Stopwatch.GetTimestamp());
                Interlocked.Increment(ref _dropped);
                continue;
            }

            var slot = _pool.TryRent(wait, stop);
            if (slot is null)
            {
                if (_options.Policy == BufferPolicy.DeliverAll)
                {
                    continue; // every buffer is with the consumer: hold the source back
                }

                // Live: every buffer is out, so this frame is read and let go.
                if (!reader.Skip())
                {
                    return true;
                }

                Arrived(Stopwatch.GetTimestamp());
                Interlocked.Increment(ref _dropped);
                continue;
            }

            bool ok;
            try
            {
                ok = reader.Read(slot.Mat);
            }
            catch
            {
                _pool.Return(slot);
                throw;
            }

            if (!ok)
            {
                _pool.Return(slot);
                return true;
            }

            Interlocked.Increment(ref _decoded);
            var now = Stopwatch.GetTimestamp();
            var sequence = Arrived(now);
            if (_minimumInterval > 0 && _lastKept != 0 && now - _lastKept < _minimumInterval * 95 / 100)
            {
                _pool.Return(slot);
                Interlocked.Increment(ref _dropped);
                continue;
            }

            _lastKept = now;
            var frame = slot.Frame;
            frame.Stamp(_options.Id, sequence, slot.View(), now, DateTimeOffset.UtcNow);
            frame.Integrity = _integrity.Check(frame.Image, now);
            Offer(frame, stop);
        }

        return false;
    }

    /// <summary>
    /// Whether the next frame will surely come too soon for the rate cap (MaxFps), so decoding it would be wasted:
    /// even arriving half a frame late, by the interval measured over the last second, it would be within 95% of the
    /// cap's interval since the last frame kept. When unsure the frame is decoded and the cap judges its arrival.
    /// </summary>
    private bool SurelyTooSoon()
    {
        var fps = Volatile.Read(ref _fps);
        if (_minimumInterval == 0 || _lastKept == 0 || fps <= 0)
        {
            return false;
        }

        var frameInterval = (long)(Stopwatch.Frequency / fps);
        var latestArrival = Volatile.Read(ref _lastFrame) + frameInterval + (frameInterval / 2);
        return latestArrival - _lastKept < _minimumInterval * 95 / 100;
    }

    /// <summary>Counts a frame read from the source and returns its sequence number.</summary>
    private long Arrived(long now)
    {
        Volatile.Write(ref _lastFrame, now);
        if (State != SourceState.Streaming)
        {
            _attempt = 0;
            var info = Stream;
            SetState(SourceState.Streaming, info is null ? null : $"{info.Width}x{info.Height}{(info.Codec is null ? string.Empty : " " + info.Codec)}");
        }

        if (_windowStart == 0)
        {
            _windowStart = now;
        }
        else if (Stopwatch.GetElapsedTime(_windowStart, now) is { TotalSeconds: >= 1 } window)
        {
            Volatile.Write(ref _fps, _windowFrames / window.TotalSeconds);
            (_windowStart, _windowFrames) = (now, 0);
        }

        _windowFrames++;
        return Interlocked.Increment(ref _read);
    }

    private void Offer(Frame frame, CancellationToken stop)
    {
        var writer = _channel.Writer;
        while (!writer.TryWrite(frame))
        {
            try
            {
                if (!writer.WaitToWriteAsync(stop).AsTask().GetAwaiter().GetResult())
                {
                    OnBufferDropped(frame);
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                OnBufferDropped(frame);
                throw;
            }
        }
    }

    /// <summary>
    /// Takes back a delivered frame that a newer one displaced further down the pipeline (a live camera keeps its
    /// newest frames there too): released, and counted as dropped instead of delivered.
    /// </summary>
    public void Displace(Frame frame)
    {
        frame.Dispose();
        Interlocked.Decrement(ref _delivered);
        Interlocked.Increment(ref _dropped);
    }

    /// <summary>Releases a frame that was read and will not be delivered, counting it as dropped.</summary>
    private void OnBufferDropped(Frame frame)
    {
        frame.Dispose();
        Interlocked.Increment(ref _dropped);
    }

    private IFrameReader CreateReader(CancellationToken stop) => _location.Kind switch
    {
        SourceKind.File or SourceKind.Device => new CaptureReader(_options, _location, stop),
        SourceKind.Folder => new FolderReader(_options, _location, _logger, stop),
        SourceKind.Mjpeg => new MjpegReader(_options, _location),
        _ => new FfmpegReader(_options, _location, _logger),
    };

    /// <summary>The watchdog's limit: the configured one, or three frame intervals of a slow source.</summary>
    private TimeSpan StallTimeout
    {
        get
        {
            var fps = _location.Kind == SourceKind.Folder ? _options.FolderFps : Stream?.Fps ?? 0;
            return fps > 0 ? TimeSpan.FromSeconds(Math.Max(_options.StallTimeout.TotalSeconds, 3 / fps)) : _options.StallTimeout;
        }
    }

    private void Watch()
    {
        var silent = Stopwatch.GetElapsedTime(Volatile.Read(ref _lastFrame));
        var state = State;
        var stuck = (state == SourceState.Streaming && silent > StallTimeout) ||
                    (state == SourceState.Connecting && DateTimeOffset.UtcNow - Status.Since > _options.ConnectTimeout + StallTimeout);
        if (stuck && !_stalled && Volatile.Read(ref _reader) is { } reader)
        {
            _stalled = true;
            SetState(SourceState.Stalled, $"no frame for {silent.TotalSeconds:0.#} s; restarting the source");
            reader.Abort();
        }
    }

    private void SetState(SourceState state, string? reason, TimeSpan? retryIn = null)
    {
        var current = Status;
        if (current.State == state && current.Reason == reason)
        {
            return;
        }

        var next = new SourceStatus(_options.Id, state, reason, DateTimeOffset.UtcNow);
        Volatile.Write(ref _status, next);
        var level = state switch
        {
            SourceState.Stalled or SourceState.Reconnecting => LogLevel.Warning,
            SourceState.Stopped when reason is not ("stopped" or "end of the file") => LogLevel.Error,
            _ => LogLevel.Information,
        };
        var retry = retryIn is { } delay ? $"; retrying in {delay.TotalSeconds:0.0} s" : string.Empty;
        _logger.Log(level, "Camera {Camera} {State}{Reason}{Retry}", _options.Id, state, reason is null ? string.Empty : ": " + reason, retry);
        StatusChanged?.Invoke(this, next);
    }

    /// <summary>Counts frames as the consumer takes them.</summary>
    private sealed class CountingReader(ChannelReader<Frame> inner, CameraSource owner) : ChannelReader<Frame>
    {
        public override Task Completion => inner.Completion;

        public override bool CanCount => inner.CanCount;

        public override int Count => inner.Count;

        public override bool TryRead(out Frame item)
        {
            if (!inner.TryRead(out item!))
            {
                return false;
            }

            Interlocked.Increment(ref owner._delivered);
            return true;
        }

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => inner.WaitToReadAsync(cancellationToken);
    }
}

using System.Threading.Channels;
using Inspection.Core;
using Inspection.Vision;
using Inspection.Worker.Configuration;
using Inspection.Worker.Control;
using Microsoft.Extensions.Logging;

namespace Inspection.Worker.Pipeline;

/// <summary>
/// One camera's way into the pipeline. Continuous: delivered frames wait in a small slot for the batcher (its
/// share of the batches the detector runs at once). A live camera (DropOldest) keeps its newest frames there, a newer frame displacing the oldest,
/// so a busy detector always gets fresh frames; under the other policies a slow detector backs up into the camera's
/// own buffer, which holds the source back (DeliverAll) or drops the newest (DropNewest).
/// Triggered: the last few frames are kept, and a trigger takes the one captured nearest its time (waiting for
/// the next frame when the trigger is newer than all of them).
/// </summary>
public sealed class CameraFeed : IAsyncDisposable
{
    private const int MaxPendingTriggers = 64;

    private readonly Channel<WorkItem> _slot;
    private readonly Action _onReady;
    private readonly Lock _gate = new();
    private readonly LinkedList<Frame> _history = new();
    private readonly List<PendingTrigger> _pending = [];
    private Task _pump = Task.CompletedTask;
    private Task? _stopped;
    private long _taken;
    private long _stale;
    private long _displaced;

    /// <param name="slot">Frames that may wait for the batcher: the camera's share of the batches the detector runs at once.</param>
    public CameraFeed(WorkerCameraOptions options, int slot, Action onReady, ILogger logger)
    {
        Options = options;
        _onReady = onReady;
        Source = new CameraSource(options, logger);
        BoundedChannelOptions Waiting(BoundedChannelFullMode full) => new(Math.Clamp(slot, 1, Math.Max(1, (options.MaxFramesInFlight ?? CameraOptions.DefaultFramesInFlight) / 2))) { FullMode = full, SingleReader = true, SingleWriter = true };
        _slot = options.Mode switch
        {
            InspectionMode.Triggered => Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true }), // bounded by the camera's frame pool
            _ when options.Policy == BufferPolicy.DropOldest => Channel.CreateBounded<WorkItem>(Waiting(BoundedChannelFullMode.DropOldest), Displace),
            _ => Channel.CreateBounded<WorkItem>(Waiting(BoundedChannelFullMode.Wait)),
        };
    }

    public string Id => Options.Id;

    public WorkerCameraOptions Options { get; }

    public CameraSource Source { get; }

    public bool Triggered => Options.Mode == InspectionMode.Triggered;

    /// <summary>Frames handed on for inspection: the count of results this camera is owed (frames dropped as too old are not).</summary>
    public long Taken => Interlocked.Read(ref _taken) - Interlocked.Read(ref _stale) - Interlocked.Read(ref _displaced);

    /// <summary>Frames the batcher found too old to inspect.</summary>
    public long Stale => Interlocked.Read(ref _stale);

    /// <summary>Frames waiting for the batcher; completes once the camera has stopped and its last frame was taken.</summary>
    public ChannelReader<WorkItem> Ready => _slot.Reader;

    public void Start()
    {
        Source.Start();
        _pump = Task.Run(Triggered ? KeepHistoryAsync : ForwardAsync);
    }

    /// <summary>Counts a frame the batcher dropped as too old: it is owed no result.</summary>
    public void CountStale() => Interlocked.Increment(ref _stale);

    /// <summary>Queues a trigger: answered at once from the kept frames when one is as new as its time, else by the next frame.</summary>
    public void Trigger(PendingTrigger trigger)
    {
        lock (_gate)
        {
            if (_pending.Count >= MaxPendingTriggers)
            {
                throw new InspectionInputException($"{MaxPendingTriggers} triggers are already waiting for frames from camera '{Id}'");
            }

            _pending.Add(trigger);
            if (_history.Last is { } newest && newest.Value.CaptureTime >= trigger.Time)
            {
                MatchPending();
            }
        }
    }

    /// <summary>Stops the camera; frames already delivered still reach the batcher. Calling it again waits for the same stop.</summary>
    public Task StopAsync()
    {
        lock (_gate)
        {
            return _stopped ??= StopOnceAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var frame in _history)
            {
                frame.Dispose();
            }

            _history.Clear();
        }
    }

    private async Task StopOnceAsync()
    {
        await Source.DisposeAsync().ConfigureAwait(false);
        await _pump.ConfigureAwait(false);
    }

    private void Displace(WorkItem item)
    {
        Interlocked.Increment(ref _displaced);
        Source.Displace(item.Frame);
    }

    private async Task ForwardAsync()
    {
        try
        {
            var frames = Source.Frames;
            while (await frames.WaitToReadAsync().ConfigureAwait(false))
            {
                while (frames.TryRead(out var frame))
                {
                    await _slot.Writer.WriteAsync(new WorkItem(frame, null)).ConfigureAwait(false);
                    Interlocked.Increment(ref _taken);
                    _onReady();
                }
            }
        }
        finally
        {
            _slot.Writer.TryComplete();
            _onReady();
        }
    }

    private async Task KeepHistoryAsync()
    {
        try
        {
            var frames = Source.Frames;
            while (await frames.WaitToReadAsync().ConfigureAwait(false))
            {
                while (frames.TryRead(out var frame))
                {
                    lock (_gate)
                    {
                        _history.AddLast(frame);
                        MatchPending();
                        while (_history.Count > Options.TriggerHistory)
                        {
                            _history.First!.Value.Dispose();
                            _history.RemoveFirst();
                        }
                    }
                }
            }
        }
        finally
        {
            _slot.Writer.TryComplete();
            _onReady();
        }
    }

    /// <summary>Gives each pending trigger whose time the newest frame has reached the kept frame nearest its time.</summary>
    private void MatchPending()
    {
        var newest = _history.Last?.Value.CaptureTime;
        for (var i = 0; i < _pending.Count && newest is not null; i++)
        {
            var trigger = _pending[i];
            if (trigger.IsClaimed)
            {
                _pending.RemoveAt(i--); // its deadline passed already
                continue;
            }

            if (trigger.Time > newest)
            {
                continue;
            }

            var nearest = _history.First!;
            for (var node = nearest.Next; node is not null; node = node.Next)
            {
                if ((node.Value.CaptureTime - trigger.Time).Duration() < (nearest.Value.CaptureTime - trigger.Time).Duration())
                {
                    nearest = node;
                }
            }

            _history.Remove(nearest);
            _pending.RemoveAt(i--);
            _slot.Writer.TryWrite(new WorkItem(nearest.Value, trigger)); // unbounded: always succeeds
            Interlocked.Increment(ref _taken);
            _onReady();
            newest = _history.Last?.Value.CaptureTime;
        }
    }
}

using System.Diagnostics;
using System.Threading.Channels;

namespace Inspection.Worker.Pipeline;

/// <summary>
/// Puts frames from all cameras into batches for the detector, when the detector asks for one: no formed batch waits
/// in a queue, so each batch holds the newest frames the cameras kept while the previous one ran. A batch goes when
/// it is full or when its first frame has waited the maximum wait; when the detector is the bottleneck, frames are
/// waiting when it asks, and the batch goes at once. Cameras are taken in turn, one frame each per round, starting
/// each round one camera further, so a fast camera fills a batch only with room the others leave. A live camera's
/// frame older than the maximum age is dropped before inference (a triggered frame never is).
/// </summary>
public sealed class FrameBatcher
{
    private readonly IReadOnlyList<Input> _cameras;
    private readonly BatchPool _pool;
    private readonly long _maxWait;
    private readonly long _maxAge;
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private int _next;

    /// <param name="maxAge">Frames of live cameras older than this are dropped, not inspected; zero keeps every frame.</param>
    public FrameBatcher(IReadOnlyList<Input> cameras, BatchPool pool, TimeSpan maxWait, TimeSpan maxAge = default)
    {
        _cameras = cameras;
        _pool = pool;
        _maxWait = (long)(maxWait.TotalSeconds * Stopwatch.Frequency);
        _maxAge = maxAge > TimeSpan.Zero ? (long)(maxAge.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
    }

    /// <summary>One camera's frames waiting for the batcher.</summary>
    /// <param name="Live">Whether its frames may be dropped for age (a live camera, not one that delivers every frame).</param>
    /// <param name="Stale">Takes a frame dropped for age: counts it and releases its pixels.</param>
    public sealed record Input(ChannelReader<WorkItem> Ready, bool Live = false, Action<WorkItem>? Stale = null);

    /// <summary>Called by a camera whenever it has a frame ready (or has finished): wakes the batcher.</summary>
    public void Notify() => _signal.Writer.TryWrite(true);

    /// <summary>The next batch, formed now; null once every camera has finished and its last frame was batched.</summary>
    public async ValueTask<Batch?> NextAsync()
    {
        var batch = _pool.Rent();
        while (true)
        {
            var (took, open) = TakeRound(batch);
            if (took && !batch.IsFull)
            {
                continue; // frames that are ready go in before any waiting
            }

            if (batch.Count > 0 && (batch.IsFull || !open || Stopwatch.GetTimestamp() - batch.Started >= _maxWait))
            {
                return batch;
            }

            if (!open)
            {
                _pool.Return(batch);
                return null;
            }

            // Nothing ready: sleep until a camera has a frame, or until the started batch must go.
            if (batch.Count == 0)
            {
                await _signal.Reader.WaitToReadAsync().ConfigureAwait(false);
            }
            else
            {
                var left = TimeSpan.FromSeconds((double)(batch.Started + _maxWait - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
                if (left > TimeSpan.Zero)
                {
                    using var timeout = new CancellationTokenSource(left);
                    await ((Task)_signal.Reader.WaitToReadAsync(timeout.Token).AsTask()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }

            _signal.Reader.TryRead(out _);
        }
    }

    /// <summary>One frame from each camera that has one, in turn; whether any was taken, and whether any camera is still open.</summary>
    private (bool Took, bool Open) TakeRound(Batch batch)
    {
        var took = false;
        var open = false;
        var count = _cameras.Count;
        var now = Stopwatch.GetTimestamp();
        for (var i = 0; i < count && !batch.IsFull; i++)
        {
            var camera = _cameras[(_next + i) % count];
            while (camera.Ready.TryRead(out var item))
            {
                if (camera.Live && item.Trigger is null && now - item.Frame.CaptureTimestamp > _maxAge)
                {
                    camera.Stale?.Invoke(item);
                    continue;
                }

                batch.Add(item);
                took = true;
                break;
            }

            open |= !camera.Ready.Completion.IsCompleted;
        }

        _next = (_next + 1) % Math.Max(count, 1);
        return (took, open || took);
    }
}

using System.Diagnostics;
using System.Threading.Channels;

namespace Inspection.Worker.Pipeline;

/// <summary>
/// Puts frames from all cameras into batches for the detector: a batch goes when it is full or when its first
/// frame has waited the maximum wait. Cameras are taken in turn, one frame each per round, starting each round
/// one camera further, so a fast camera fills a batch only with room the others leave.
/// </summary>
public sealed class FrameBatcher
{
    private readonly IReadOnlyList<ChannelReader<WorkItem>> _cameras;
    private readonly BatchPool _pool;
    private readonly long _maxWait;
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private int _next;

    public FrameBatcher(IReadOnlyList<ChannelReader<WorkItem>> cameras, BatchPool pool, TimeSpan maxWait)
    {
        _cameras = cameras;
        _pool = pool;
        _maxWait = (long)(maxWait.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Called by a camera whenever it has a frame ready (or has finished): wakes the batcher.</summary>
    public void Notify() => _signal.Writer.TryWrite(true);

    /// <summary>Batches until every camera has finished, then completes <paramref name="output"/>.</summary>
    public async Task RunAsync(ChannelWriter<Batch> output)
    {
        try
        {
            var batch = _pool.Rent();
            while (true)
            {
                var (took, open) = TakeRound(batch);
                if (batch.Count > 0 && (batch.IsFull || !open || Stopwatch.GetTimestamp() - batch.Started >= _maxWait))
                {
                    await output.WriteAsync(batch).ConfigureAwait(false);
                    batch = _pool.Rent();
                    continue;
                }

                if (!open)
                {
                    _pool.Return(batch);
                    return;
                }

                if (took)
                {
                    continue;
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
        finally
        {
            output.TryComplete();
        }
    }

    /// <summary>One frame from each camera that has one, in turn; whether any was taken, and whether any camera is still open.</summary>
    private (bool Took, bool Open) TakeRound(Batch batch)
    {
        var took = false;
        var open = false;
        var count = _cameras.Count;
        for (var i = 0; i < count && !batch.IsFull; i++)
        {
            var camera = _cameras[(_next + i) % count];
            if (camera.TryRead(out var item))
            {
                batch.Add(item);
                took = true;
            }

            open |= !camera.Completion.IsCompleted;
        }

        _next = (_next + 1) % Math.Max(count, 1);
        return (took, open || took);
    }
}

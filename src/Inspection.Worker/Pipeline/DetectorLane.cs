using System.Collections.Concurrent;

namespace Inspection.Worker.Pipeline;

/// <summary>
/// A thread of its own that inspects the batches it is given, one at a time. Inference is long CPU work: on its own
/// thread it never holds one of the thread pool's, which the cameras, the outputs and the web server share.
/// </summary>
internal sealed class DetectorLane
{
    private readonly BlockingCollection<(Batch Batch, long Ticket)> _work = new(boundedCapacity: 1);
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="inspect">Inspects a batch, given with its place in the order batches were formed.</param>
    /// <param name="free">Called when the lane can take another batch.</param>
    /// <param name="failed">Called when inspecting threw: the lane has ended.</param>
    public DetectorLane(int index, Func<Batch, long, Task> inspect, Action<DetectorLane> free, Action<Exception> failed)
    {
        new Thread(() =>
        {
            try
            {
                foreach (var (batch, ticket) in _work.GetConsumingEnumerable())
                {
                    inspect(batch, ticket).GetAwaiter().GetResult();
                    free(this);
                }

                _ended.SetResult();
            }
            catch (Exception e)
            {
                _ended.SetException(e);
                failed(e);
            }
        })
        { IsBackground = true, Name = $"detector lane {index}" }.Start();
    }

    /// <summary>Completes when the lane has inspected everything given (after <see cref="Finish"/>), or failed.</summary>
    public Task Ended => _ended.Task;

    /// <summary>Gives a free lane its next batch.</summary>
    public void Give(Batch batch, long ticket) => _work.Add((batch, ticket));

    /// <summary>No more batches: the lane ends after the one it has.</summary>
    public void Finish() => _work.CompleteAdding();
}

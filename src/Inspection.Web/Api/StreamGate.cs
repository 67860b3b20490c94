namespace Inspection.Web;

/// <summary>Counts the open MJPEG and event streams against <see cref="WebLiveOptions.MaxStreams"/>.</summary>
public sealed class StreamGate(WebOptions options)
{
    private int _open;

    public int Open => Volatile.Read(ref _open);

    /// <summary>A lease to dispose when the stream ends; null when the limit is reached.</summary>
    public IDisposable? TryEnter()
    {
        if (Interlocked.Increment(ref _open) > options.Live.MaxStreams)
        {
            Interlocked.Decrement(ref _open);
            return null;
        }

        return new Lease(this);
    }

    private sealed class Lease(StreamGate gate) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                Interlocked.Decrement(ref gate._open);
            }
        }
    }
}

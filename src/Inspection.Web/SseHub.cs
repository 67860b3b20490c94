using System.Threading.Channels;

namespace Inspection.Web;

/// <summary>One server-sent event: its name, its id (results only: the feed sequence) and its JSON body.</summary>
public sealed record SseEvent(string Name, long? Id, ReadOnlyMemory<byte> Data, ResultSummary? Result = null);

/// <summary>
/// Hands events to every connected reader. Each reader has its own bounded queue that drops its oldest event when
/// full and counts what it lost, so a slow browser loses its own events (and is told: a "gap" event) and nobody
/// else waits.
/// </summary>
public sealed class SseHub
{
    public const int QueueCapacity = 256;
    private readonly Lock _lock = new();
    private Subscription[] _subscribers = [];

    public int Count => Volatile.Read(ref _subscribers).Length;

    public Subscription Subscribe(FeedFilter filter, bool operatorEvents)
    {
        var subscription = new Subscription(this, filter, operatorEvents);
        lock (_lock)
        {
            _subscribers = [.. _subscribers, subscription];
        }

        return subscription;
    }

    /// <summary>Results go to readers whose filter matches; audit events to operators only; everything else to all.</summary>
    public void Publish(SseEvent item)
    {
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            if ((item.Result is null || subscriber.Filter.Matches(item.Result)) && (item.Name != "audit" || subscriber.OperatorEvents))
            {
                subscriber.Offer(item);
            }
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
        {
            _subscribers = [.. _subscribers.Where(s => s != subscription)];
        }
    }

    public sealed class Subscription : IDisposable
    {
        private readonly SseHub _hub;
        private readonly Channel<SseEvent> _queue;
        private long _missed;

        internal Subscription(SseHub hub, FeedFilter filter, bool operatorEvents)
        {
            (_hub, Filter, OperatorEvents) = (hub, filter, operatorEvents);
            _queue = Channel.CreateBounded<SseEvent>(
                new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
                _ => Interlocked.Increment(ref _missed));
        }

        public FeedFilter Filter { get; }

        public bool OperatorEvents { get; }

        public ChannelReader<SseEvent> Reader => _queue.Reader;

        /// <summary>Events dropped since the last call.</summary>
        public long TakeMissed() => Interlocked.Exchange(ref _missed, 0);

        internal void Offer(SseEvent item) => _queue.Writer.TryWrite(item);

        public void Dispose()
        {
            _hub.Remove(this);
            _queue.Writer.TryComplete();
        }
    }
}

using System.Collections.Concurrent;
using Inspection.Core;
using Inspection.Worker.Control;

namespace Inspection.Worker.Pipeline;

/// <summary>A frame on its way to the detector, with the trigger it answers in triggered mode.</summary>
public readonly record struct WorkItem(Frame Frame, PendingTrigger? Trigger);

/// <summary>Frames from any cameras that go to the detector together, with buffers reused from batch to batch.</summary>
public sealed class Batch
{
    public Batch(int capacity)
    {
        Items = new WorkItem[capacity];
        Images = new ImageView[capacity];
        Detections = new List<Detection>[capacity];
        for (var i = 0; i < capacity; i++)
        {
            Detections[i] = new List<Detection>(32);
        }
    }

    public WorkItem[] Items { get; }

    public ImageView[] Images { get; }

    public List<Detection>[] Detections { get; }

    public int Count { get; private set; }

    public bool IsFull => Count == Items.Length;

    /// <summary>When the first frame went in, on the monotonic clock.</summary>
    public long Started { get; private set; }

    public void Add(WorkItem item)
    {
        if (Count == 0)
        {
            Started = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        Images[Count] = item.Frame.Image;
        Items[Count++] = item;
    }

    /// <summary>How many different cameras the batch holds.</summary>
    public int Cameras()
    {
        var distinct = 0;
        for (var i = 0; i < Count; i++)
        {
            var seen = false;
            for (var j = 0; j < i && !seen; j++)
            {
                seen = ReferenceEquals(Items[j].Frame.CameraId, Items[i].Frame.CameraId) || Items[j].Frame.CameraId == Items[i].Frame.CameraId;
            }

            distinct += seen ? 0 : 1;
        }

        return distinct;
    }

    public void Clear()
    {
        Array.Clear(Items, 0, Count);
        Array.Clear(Images, 0, Count);
        Count = 0;
    }
}

/// <summary>A fixed set of batches handed round: the batcher rents, the detector stage returns.</summary>
public sealed class BatchPool(int batches, int capacity)
{
    private readonly ConcurrentBag<Batch> _free = [.. Enumerable.Range(0, batches).Select(_ => new Batch(capacity))];

    public Batch Rent() => _free.TryTake(out var batch) ? batch : new Batch(capacity);

    public void Return(Batch batch)
    {
        batch.Clear();
        _free.Add(batch);
    }
}

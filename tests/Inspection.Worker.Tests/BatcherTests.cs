using System.Diagnostics;
using System.Threading.Channels;
using Inspection.Core;
using Inspection.Worker.Pipeline;

namespace Inspection.Worker.Tests;

public sealed class BatcherTests
{
    [Fact]
    public async Task A_fast_camera_cannot_fill_a_batch_while_the_others_have_frames()
    {
        var fast = Camera("fast", 50);
        var slow = Camera("slow", 1);
        var other = Camera("other", 1);
        var batches = await RunAsync([fast, slow, other], maxBatch: 4, maxWait: TimeSpan.FromSeconds(10));

        var first = batches[0];
        Assert.Equal(4, first.Count);
        Assert.Contains("slow", first);
        Assert.Contains("other", first);
        Assert.Equal(52, batches.Sum(b => b.Count)); // and nothing is lost
    }

    [Fact]
    public async Task A_batch_that_cannot_fill_goes_after_the_maximum_wait()
    {
        var camera = Camera("only", 1, complete: false);
        var batcher = new FrameBatcher([new(camera.Reader)], new BatchPool(1, 8), TimeSpan.FromMilliseconds(50));

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var batch = await batcher.NextAsync().AsTask().WaitAsync(timeout.Token);
        Assert.Equal(1, batch!.Count); // sent alone, not held for seven more frames

        var next = batcher.NextAsync().AsTask();
        camera.Writer.Complete();
        batcher.Notify(); // as a camera does when it finishes: an idle batcher sleeps until told
        Assert.Null(await next.WaitAsync(timeout.Token));
    }

    [Fact]
    public async Task A_batch_forms_when_asked_so_it_holds_the_frames_the_cameras_kept_meanwhile()
    {
        // A live camera's buffer keeps its newest two frames (DropOldest) while the detector is busy with another batch.
        var camera = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(2) { FullMode = BoundedChannelFullMode.DropOldest });
        var batcher = new FrameBatcher([new(camera.Reader, Live: true)], new BatchPool(1, 8), TimeSpan.Zero);
        for (var i = 1; i <= 10; i++)
        {
            camera.Writer.TryWrite(new WorkItem(NewFrame("live", i, Stopwatch.GetTimestamp()), null));
        }

        var batch = await batcher.NextAsync();
        Assert.Equal([9, 10], batch!.Items.Take(batch.Count).Select(i => i.Frame.Sequence));
    }

    [Fact]
    public async Task Live_frames_older_than_the_maximum_age_are_dropped_before_inference_but_never_triggered_ones_or_DeliverAll_cameras()
    {
        var old = Stopwatch.GetTimestamp() - (2 * Stopwatch.Frequency); // captured two seconds ago
        var live = Channel.CreateUnbounded<WorkItem>();
        var files = Channel.CreateUnbounded<WorkItem>();
        live.Writer.TryWrite(new WorkItem(NewFrame("live", 1, old), null));
        live.Writer.TryWrite(new WorkItem(NewFrame("live", 2, old), new Control.PendingTrigger { CameraId = "live", PartId = "p1", Time = DateTimeOffset.UtcNow }));
        live.Writer.TryWrite(new WorkItem(NewFrame("live", 3, Stopwatch.GetTimestamp()), null));
        files.Writer.TryWrite(new WorkItem(NewFrame("file", 1, old), null));
        live.Writer.Complete();
        files.Writer.Complete();
        var stale = new List<WorkItem>();
        var batcher = new FrameBatcher([new(live.Reader, Live: true, Stale: stale.Add), new(files.Reader)], new BatchPool(1, 8), TimeSpan.Zero, TimeSpan.FromSeconds(1));

        var inspected = new List<string>();
        while (await batcher.NextAsync() is { } batch)
        {
            inspected.AddRange(batch.Items.Take(batch.Count).Select(i => $"{i.Frame.CameraId}:{i.Frame.Sequence}"));
        }

        Assert.Equal(["live:1"], stale.Select(i => $"{i.Frame.CameraId}:{i.Frame.Sequence}"));
        Assert.Equal(["file:1", "live:2", "live:3"], inspected.Order());
    }

    [Fact]
    public async Task Frames_keep_their_order_per_camera_across_batches()
    {
        var a = Camera("a", 20);
        var b = Camera("b", 7);
        var batches = await RunAsync([a, b], maxBatch: 3, maxWait: TimeSpan.FromMilliseconds(5), sequences: true);
        var sequences = batches.SelectMany(x => x).GroupBy(s => s.Split(':')[0]).ToDictionary(g => g.Key, g => g.Select(s => int.Parse(s.Split(':')[1])).ToList());
        Assert.Equal(Enumerable.Range(1, 20), sequences["a"]);
        Assert.Equal(Enumerable.Range(1, 7), sequences["b"]);
    }

    private static Channel<WorkItem> Camera(string id, int frames, bool complete = true)
    {
        var channel = Channel.CreateUnbounded<WorkItem>();
        for (var i = 1; i <= frames; i++)
        {
            channel.Writer.TryWrite(new WorkItem(NewFrame(id, i, Stopwatch.GetTimestamp()), null));
        }

        if (complete)
        {
            channel.Writer.Complete();
        }

        return channel;
    }

    private static Frame NewFrame(string camera, long sequence, long captured)
    {
        var frame = new Frame();
        frame.Stamp(camera, sequence, new ImageView(new byte[12], 2, 2, 3), captured, DateTimeOffset.UtcNow);
        return frame;
    }

    private static async Task<List<List<string>>> RunAsync(Channel<WorkItem>[] cameras, int maxBatch, TimeSpan maxWait, bool sequences = false)
    {
        var pool = new BatchPool(1, maxBatch);
        var batcher = new FrameBatcher([.. cameras.Select(c => new FrameBatcher.Input(c.Reader))], pool, maxWait);
        var batches = new List<List<string>>();
        while (await batcher.NextAsync() is { } batch)
        {
            batches.Add([.. batch.Items.Take(batch.Count).Select(i => sequences ? $"{i.Frame.CameraId}:{i.Frame.Sequence}" : i.Frame.CameraId)]);
            pool.Return(batch);
        }

        return batches;
    }
}

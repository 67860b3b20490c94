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
        var pool = new BatchPool(2, 8);
        var output = Channel.CreateUnbounded<Batch>();
        var batcher = new FrameBatcher([camera.Reader], pool, TimeSpan.FromMilliseconds(50));
        var run = batcher.RunAsync(output.Writer);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var batch = await output.Reader.ReadAsync(timeout.Token);
        Assert.Equal(1, batch.Count); // sent alone, not held for seven more frames

        camera.Writer.Complete();
        batcher.Notify(); // as a camera does when it finishes: an idle batcher sleeps until told
        await run.WaitAsync(timeout.Token);
        Assert.False(await output.Reader.WaitToReadAsync(timeout.Token));
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
            var frame = new Frame();
            frame.Stamp(id, i, new ImageView(new byte[12], 2, 2, 3), Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow);
            channel.Writer.TryWrite(new WorkItem(frame, null));
        }

        if (complete)
        {
            channel.Writer.Complete();
        }

        return channel;
    }

    private static async Task<List<List<string>>> RunAsync(Channel<WorkItem>[] cameras, int maxBatch, TimeSpan maxWait, bool sequences = false)
    {
        var pool = new BatchPool(2, maxBatch);
        var output = Channel.CreateBounded<Batch>(1);
        var batcher = new FrameBatcher([.. cameras.Select(c => c.Reader)], pool, maxWait);
        var run = batcher.RunAsync(output.Writer);
        var batches = new List<List<string>>();
        await foreach (var batch in output.Reader.ReadAllAsync())
        {
            batches.Add([.. batch.Items.Take(batch.Count).Select(i => sequences ? $"{i.Frame.CameraId}:{i.Frame.Sequence}" : i.Frame.CameraId)]);
            pool.Return(batch);
        }

        await run;
        return batches;
    }
}

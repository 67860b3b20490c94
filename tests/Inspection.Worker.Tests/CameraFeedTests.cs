using Inspection.Vision;
using Inspection.Worker.Configuration;
using Inspection.Worker.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Tests;

public sealed class CameraFeedTests
{
    [Fact]
    public async Task A_live_camera_keeps_its_newest_frames_waiting_while_the_detector_is_busy_and_owes_results_only_for_those()
    {
        // The demo pictures played fast as a live camera, and nobody taking frames: a detector busy with a long batch.
        var options = new WorkerCameraOptions { Id = "live", Uri = InProcessSettings.DemoPictures, FolderFps = 100, Loop = true, Policy = BufferPolicy.DropOldest };
        await using var feed = new CameraFeed(options, slot: 2, onReady: () => { }, NullLogger.Instance);
        feed.Start();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (feed.Source.Counters.Read < 50 || feed.Ready.Count < 2) // the camera's pump hands frames on in the pool's time
        {
            await Task.Delay(20, timeout.Token);
        }

        // Stopped, the camera hands on what it delivered; what waits for the batcher is its newest frames, not the first
        // two it read (which, when the waiting slot held the camera back, stayed there ever older).
        var stopping = feed.StopAsync();
        var stopped = await Task.WhenAny(stopping, Task.Delay(TimeSpan.FromSeconds(10))) == stopping;
        var waiting = new List<long>();
        while (feed.Ready.TryRead(out var item)) // also frees a camera held back by a full slot, so it can stop
        {
            waiting.Add(item.Frame.Sequence);
            item.Frame.Dispose();
        }

        Assert.True(stopped, "the camera could not stop: it was held back until its frames were taken");
        var counters = feed.Source.Counters;
        Assert.Equal(2, waiting.Count);
        Assert.All(waiting, sequence => Assert.True(sequence > counters.Read - 4, $"frame {sequence} waits, {counters.Read} were read"));
        Assert.Equal(counters.Read - counters.Dropped, counters.Delivered); // a displaced frame counts as dropped at the camera
        Assert.Equal(2, feed.Taken); // results are owed for the frames that wait, not for those displaced
    }

    /// <summary>Eight frames cannot be five cameras' equal shares: each keeps two per batch in flight, else a busy detector would get batches of five.</summary>
    [Theory]
    [InlineData(null, 20)] // the CPU's default: two batches at once
    [InlineData(1, 10)]
    public async Task Five_busy_cameras_keep_enough_frames_waiting_to_fill_every_batch_in_flight(int? concurrentBatches, int expected)
    {
        var cameras = Enumerable.Range(0, 5)
            .Select(i => new WorkerCameraOptions { Id = $"live{i}", Uri = InProcessSettings.DemoPictures, FolderFps = 50, Loop = true, Policy = BufferPolicy.DropOldest })
            .ToList();
        var options = new InspectionOptions { Cameras = cameras, Batching = { MaxBatchSize = 8 } };
        options.Model.ConcurrentBatches = concurrentBatches;
        var feeds = new CameraFeeds(Options.Create(options), NullLoggerFactory.Instance);
        foreach (var feed in feeds)
        {
            feed.Start();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (feeds.Any(f => f.Source.Counters.Read < expected))
        {
            await Task.Delay(20, timeout.Token);
        }

        // Their pumps hand frames on in the thread pool's time: waited for up to 10 s (shares rounded down keep fewer).
        using var filled = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (feeds.Sum(f => f.Ready.Count) < expected && !filled.IsCancellationRequested)
        {
            await Task.Delay(20, CancellationToken.None);
        }

        await Task.WhenAll(feeds.Select(f => f.StopAsync())).WaitAsync(timeout.Token);
        var waiting = 0;
        foreach (var feed in feeds)
        {
            while (feed.Ready.TryRead(out var item))
            {
                waiting++;
                item.Frame.Dispose();
            }

            await feed.DisposeAsync();
        }

        Assert.Equal(expected, waiting);
    }
}

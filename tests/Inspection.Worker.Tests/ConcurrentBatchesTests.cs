using Inspection.TestSupport;
using Inspection.Core;
using Inspection.Worker.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using static Inspection.TestSupport.Waiting;

namespace Inspection.Worker.Tests;

/// <summary>The detector stage running several batches at once: results still go out in each camera's frame order.</summary>
[Collection("Worker processes")]
public sealed class ConcurrentBatchesTests
{
    [Fact]
    public async Task Turns_go_in_batch_order_whichever_batch_finishes_first()
    {
        using var turns = new PublishTurns(3);
        var order = new List<long>();

        // Three batches in flight finish in reverse order; each waits for its turn before it hands on.
        async Task Inspect(long ticket, int milliseconds)
        {
            await Task.Delay(milliseconds);
            await turns.WaitAsync(ticket);
            lock (order)
            {
                order.Add(ticket);
            }

            turns.Pass(ticket);
        }

        await Task.WhenAll(Inspect(0, 300), Inspect(1, 150), Inspect(2, 0));
        await Task.WhenAll(Inspect(3, 100), Inspect(4, 0), Inspect(5, 50)); // the slots are reused
        Assert.Equal([0, 1, 2, 3, 4, 5], order);
    }

    /// <summary>
    /// Three batches of at most 2 frames at once (more than the cores here, so they finish out of order) from two
    /// folder cameras delivering every picture: every frame gets its result, in the order the camera took them.
    /// </summary>
    [Fact]
    public async Task Three_batches_at_once_hand_on_every_result_in_each_cameras_order()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["left", "right"], fps: 1000, loop: true);
        settings["Inspection:Model:ConcurrentBatches"] = "3";
        settings["Inspection:Batching:MaxBatchSize"] = "2";
        await using (var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IResultSink>(recording)))
        {
            await WaitUntil(() => recording.Results.Count(r => r.Sequence > 0) >= 120, "120 results", TimeSpan.FromSeconds(90));
            await worker.StopAsync();
            Assert.Contains(worker.Lines, l => l.Contains("3 batch(es) at once", StringComparison.Ordinal));
        }

        foreach (var camera in new[] { "left", "right" })
        {
            var sequences = recording.Results.Where(r => r.CameraId == camera && r.Sequence > 0).Select(r => r.Sequence).ToList();
            Assert.True(sequences.Count > 20, $"{camera}: {sequences.Count} results");
            Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences);
        }
    }

    /// <summary>
    /// A lane is free as soon as it has inferred: while the first batch's results are held in their turn (here by a
    /// tap that blocks), the other lane infers the batches behind it, up to the room for two a lane, and the held
    /// results still go out first.
    /// </summary>
    [Fact]
    public async Task A_lane_infers_the_next_batch_while_the_results_before_it_wait_for_their_turn()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        var tap = new HoldingTap();
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["left", "right"], fps: 1000, loop: true);
        settings["Inspection:Model:ConcurrentBatches"] = "2";
        settings["Inspection:Batching:MaxBatchSize"] = "2";
        await using (var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IResultSink>(recording).AddSingleton<IFrameTap>(tap)))
        {
            var metrics = worker.Get<Inspection.Worker.Observability.WorkerMetrics>();
            // Frames whose inference started (their age is observed then).
            long Inferred() => new[] { "left", "right" }.Sum(c => metrics.Camera(c).FrameAge.Count);
            try
            {
                await WaitUntil(() => tap.Holding, "the first result held in its turn", TimeSpan.FromSeconds(60));
                // One lane holds the first batch (2 frames); a lane that waited for the turn would stop after one more.
                await WaitUntil(() => Inferred() >= 6, "batches inferred behind the held one", TimeSpan.FromSeconds(60), () => $"{Inferred()} frames inferred");
                await Task.Delay(500);
                Assert.True(Inferred() <= 8, $"{Inferred()} frames inferred: more than 4 batches of 2 in flight");
                Assert.DoesNotContain(recording.Results, r => r.Sequence > 0);
            }
            finally
            {
                tap.Release();
            }

            await WaitUntil(() => recording.Results.Count(r => r.Sequence > 0) >= 40, "40 results", TimeSpan.FromSeconds(60));
            await worker.StopAsync();
        }

        foreach (var camera in new[] { "left", "right" })
        {
            var sequences = recording.Results.Where(r => r.CameraId == camera && r.Sequence > 0).Select(r => r.Sequence).ToList();
            Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences);
        }
    }

    /// <summary>
    /// A batch that fails (here a frame tap throws) ends the detector stage: the failure is logged as critical
    /// and the host stops, so a supervisor restarts the worker, rather than the worker running on without results.
    /// The batches still in the other lanes get their turn, so the stop does not hang.
    /// </summary>
    [Fact]
    public async Task A_failing_batch_stops_the_worker_instead_of_leaving_it_running_without_results()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["left", "right"], fps: 1000, loop: true);
        settings["Inspection:Model:ConcurrentBatches"] = "2";
        settings["Inspection:Batching:MaxBatchSize"] = "2";
        await using var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IFrameTap>(new FailingTap(after: 30)));
        var stopping = worker.Get<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().ApplicationStopping;
        await WaitUntil(() => stopping.IsCancellationRequested, "the host stopping after the failure", TimeSpan.FromSeconds(60), () => string.Join("\n", worker.Lines.TakeLast(20)));
        Assert.Contains(worker.Lines, l => l.Contains("The detector stage failed; the worker stops.", StringComparison.Ordinal));
    }

    /// <summary>Blocks the first frame handed to it until released, holding its batch's turn.</summary>
    private sealed class HoldingTap : IFrameTap
    {
        private readonly ManualResetEventSlim _released = new();
        private int _taken;

        public bool Holding { get; private set; }

        public bool Wants(string cameraId, long nowTimestamp) => true;

        public void Take(in ImageView image, InspectionResult result)
        {
            if (Interlocked.Increment(ref _taken) == 1)
            {
                Holding = true;
                _released.Wait();
            }
        }

        public void Release() => _released.Set();
    }

    /// <summary>Throws on the frame after <c>after</c>: a bug in a batch's processing.</summary>
    private sealed class FailingTap(int after) : IFrameTap
    {
        private int _seen;

        public bool Wants(string cameraId, long nowTimestamp) => Interlocked.Increment(ref _seen) > after;

        public void Take(in ImageView image, InspectionResult result) => throw new InvalidOperationException("a tap failed");
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

/// <summary>The worker as a whole, with a real RTSP server, a real ffmpeg MJPEG server, a real video file and a real mosquitto.</summary>
[Collection("Worker processes")]
public sealed partial class PipelineTests
{
    [Fact]
    public async Task Three_cameras_through_one_worker_each_delivered_frame_gets_one_result_and_a_camera_can_die_and_return()
    {
        var video = SharedData.Require("media/traffic_cKuhn517_MIT.mp4");
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        using var rtsp = ServerProcess.Rtsp(320, 240, fps: 15);
        using var mjpeg = ServerProcess.Mjpeg(video);
        await using var subscriber = await MqttSubscriber.StartAsync(broker.Port, "inspection/#", "scada");
        using var mosquittoSub = new MosquittoSub(broker.Port, "inspection/+/+/+/result", "plc");
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Cameras:0:Id"] = "rtsp",
            ["Inspection:Cameras:0:Uri"] = rtsp.RtspUrl,
            ["Inspection:Cameras:0:ReconnectMaxDelay"] = "00:00:01",
            ["Inspection:Cameras:1:Id"] = "mjpeg",
            ["Inspection:Cameras:1:Uri"] = $"http://127.0.0.1:{mjpeg.Port}/stream.mjpg",
            ["Inspection:Cameras:2:Id"] = "file",
            ["Inspection:Cameras:2:Uri"] = video,
            ["Inspection:Cameras:2:Policy"] = "DeliverAll",
            ["Inspection:Mqtt:Host"] = "127.0.0.1",
            ["Inspection:Mqtt:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Evidence:Enabled"] = "false",
        });
        await worker.WaitForLineAsync("Inspecting rtsp", TimeSpan.FromSeconds(60));
        await Until(() => new[] { "rtsp", "mjpeg", "file" }.All(c => PublishedResult.Of(subscriber).Any(r => r.Camera == c)), "results from all three cameras", worker);

        // The RTSP server dies: its status goes offline and an UNKNOWN says why, while the other two go on.
        rtsp.Kill();
        await Until(() => StatusOf(subscriber, "rtsp").Contains("\"online\":false", StringComparison.Ordinal), "the rtsp camera reported offline", worker);
        await Until(() => PublishedResult.Of(subscriber).Any(r => r is { Camera: "rtsp", Sequence: 0, Verdict: "UNKNOWN" } && r.Reason!.StartsWith("camera down", StringComparison.Ordinal)), "an UNKNOWN for the dead camera", worker);
        var during = PublishedResult.Of(subscriber).Count(r => r.Camera != "rtsp");
        await Until(() => PublishedResult.Of(subscriber).Count(r => r.Camera == "mjpeg") > 0 && PublishedResult.Of(subscriber).Count(r => r.Camera != "rtsp") > during + 20, "the other cameras go on", worker);

        // It comes back.
        var before = PublishedResult.Of(subscriber).Count(r => r.Camera == "rtsp" && r.Sequence > 0);
        rtsp.Start();
        await Until(() => StatusOf(subscriber, "rtsp").Contains("\"online\":true", StringComparison.Ordinal), "the rtsp camera back online", worker);
        await Until(() => PublishedResult.Of(subscriber).Count(r => r.Camera == "rtsp" && r.Sequence > 0) > before + 10, "results from the returned camera", worker);

        // Batches mixed cameras: not every batch held a single camera.
        var metrics = await worker.GetAsync("/metrics");
        Assert.True(Metric(metrics, "inspection_batch_cameras_bucket{le=\"1\"}") < Metric(metrics, "inspection_batch_cameras_count"), "no batch mixed cameras");

        StopCleanly(worker);
        var owed = worker.Lines.Select(l => SummaryLine().Match(l)).Where(m => m.Success).ToDictionary(m => m.Groups[1].Value, m => (Taken: long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), Published: long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        Assert.Equal(["file", "mjpeg", "rtsp"], owed.Keys.Order());
        foreach (var (camera, (taken, published)) in owed)
        {
            Assert.Equal(taken, published);
            await Until(() => PublishedResult.Of(subscriber).Count(r => r.Camera == camera && r.Sequence > 0) >= taken && PublishedResult.Of(mosquittoSub).Count(r => r.Camera == camera && r.Sequence > 0) >= taken, $"all {taken} results of {camera} at both subscribers", worker);
            foreach (var results in new[] { PublishedResult.Of(subscriber), PublishedResult.Of(mosquittoSub) })
            {
                var sequences = results.Where(r => r.Camera == camera && r.Sequence > 0).Select(r => r.Sequence).ToList();
                Assert.Equal(taken, sequences.Count); // exactly one result per delivered frame
                Assert.Equal(sequences.Count, sequences.Distinct().Count());
            }
        }

        var file = PublishedResult.Of(subscriber).Where(r => r.Camera == "file").Select(r => r.Sequence).ToList();
        Assert.Equal(Enumerable.Range(1, file.Count).Select(i => (long)i), file); // deliver-all: every frame, in order
    }

    /// <summary>SIGTERM, and the worker must exit with 0; its output tells why when it does not.</summary>
    internal static void StopCleanly(WorkerProcess worker)
    {
        var exit = worker.Terminate(TimeSpan.FromSeconds(30));
        Assert.True(exit == 0, $"the worker exited with {exit}:\n{string.Join("\n", worker.Lines.TakeLast(40))}");
    }

    internal static async Task Until(Func<bool> condition, string what, WorkerProcess worker, int seconds = 60)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(seconds) || worker.HasExited)
            {
                throw new TimeoutException($"Waited {watch.Elapsed.TotalSeconds:0} s for {what}; the worker printed:\n{string.Join("\n", worker.Lines.TakeLast(30))}");
            }

            await Task.Delay(100);
        }
    }

    internal static double Metric(string exposition, string series)
    {
        var line = exposition.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal)) ?? throw new InvalidOperationException($"no {series} in /metrics");
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }

    private static string StatusOf(MqttSubscriber subscriber, string camera) =>
        subscriber.Snapshot().LastOrDefault(m => m.Topic.EndsWith($"/{camera}/status", StringComparison.Ordinal))?.Payload ?? string.Empty;

    [GeneratedRegex(@"Camera (\S+): (\d+) frames taken for inspection, (\d+) results published")]
    private static partial Regex SummaryLine();
}

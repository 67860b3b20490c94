using System.Diagnostics;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.TestSupport;
using static Inspection.TestSupport.Waiting;
using Inspection.Messaging.Sparkplug;
using Inspection.Worker.Observability;
using Inspection.Worker.Output;
using Json.Schema;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Inspection.Worker.Tests;

/// <summary>The output seam in-process: the worker's real services, a recording sink beside the JSON one.</summary>
[Collection("Worker processes")]
public sealed class SinkTests
{
    private static readonly DateTimeOffset PublishTime = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Every_frame_gets_exactly_one_result_in_camera_order_and_the_JSON_sink_says_what_it_said_before_the_seam()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        await using var subscriber = await MqttSubscriber.StartAsync(broker.Port, "inspection/plant1/lineA/+/result");
        var recording = new RecordingSink();
        var frames = Directory.GetFiles(InProcessSettings.DemoPictures, "*.jpg").Length;
        await using (var worker = await InProcessWorker.StartAsync(
            InProcessSettings.Demo(folder, broker.Port, cameras: ["demo", "second"], fps: 25, loop: false),
            services =>
            {
                services.AddSingleton<IResultSink>(recording);
                services.Replace(ServiceDescriptor.Singleton<TimeProvider>(new FixedClock(PublishTime)));
            }))
        {
            await WaitUntil(() => recording.Results.Count(r => r.Sequence > 0) == 2 * frames, $"{2 * frames} results", TimeSpan.FromSeconds(60));
            await worker.StopAsync();
            Assert.Contains(worker.Lines, l => l.Contains($"Camera demo: {frames} frames taken for inspection, {frames} results published", StringComparison.Ordinal));
        }

        // The recording sink: one result per frame, in each camera's order, camera states around them.
        foreach (var camera in new[] { "demo", "second" })
        {
            Assert.Equal(Enumerable.Range(1, frames).Select(i => (long)i), recording.Results.Where(r => r.CameraId == camera).Select(r => r.Sequence));
        }

        Assert.Contains(recording.Items, i => i is { Kind: SinkItemKind.CameraStatus, Status.State: SourceState.Streaming });

        // The JSON sink: the same messages as before the seam (snapshot), times and inference milliseconds aside, and
        // the identity fields of schema 2 (id, run; the snapshot's schemaVersion was bumped from 1 with them); the schema holds.
        // The detections were re-recorded when the demo model was retrained from yolov8n.pt; the messages' form is the seam's.
        await WaitUntil(() => subscriber.Snapshot().Count == 2 * frames, "every JSON result at the subscriber", TimeSpan.FromSeconds(60));
        var schema = JsonSchema.FromFile(Path.Combine(SharedData.RepositoryRoot, "docs", "schemas", "inspection-result.schema.json"));
        var snapshot = File.ReadAllLines(Path.Combine(SharedData.RepositoryRoot, "tests", "Inspection.Worker.Tests", "Snapshots", "demo-results.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        var published = subscriber.Snapshot().Where(m => m.Topic.EndsWith("/demo/result", StringComparison.Ordinal)).Select(m => JsonNode.Parse(m.Payload)!.AsObject()).ToList();
        Assert.Equal(snapshot.Count, published.Count);
        Assert.Equal(published.Count, published.Select(m => (string)m["id"]!).Distinct().Count());
        for (var i = 0; i < published.Count; i++)
        {
            var message = published[i];
            Assert.True(schema.Evaluate(JsonDocument(message)).IsValid, message.ToJsonString());
            Assert.Equal(PublishTime.UtcDateTime, (DateTime)message["publishTime"]!);
            Assert.Equal(Inspection.Core.ProcessRun.Id.ToString(), (string)message["run"]!);
            foreach (var varying in new[] { "id", "run", "captureTime", "publishTime", "inferenceMs" })
            {
                message.Remove(varying);
            }

            Assert.True(JsonNode.DeepEquals(snapshot[i], message), $"result {i + 1} differs from the snapshot:\n{snapshot[i].ToJsonString()}\n{message.ToJsonString()}");
        }
    }

    /// <summary>
    /// A frame tap gets the frame's own pixels with its result, before they return to the pool, and only when it
    /// wants them: here every other frame of one camera of two.
    /// </summary>
    [Fact]
    public async Task A_frame_tap_gets_the_pixels_of_the_frames_it_wants_with_their_results()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        var tap = new RecordingTap("demo");
        var frames = Directory.GetFiles(InProcessSettings.DemoPictures, "*.jpg").Length;
        await using (var worker = await InProcessWorker.StartAsync(
            InProcessSettings.Demo(folder, broker.Port, cameras: ["demo", "second"], fps: 25, loop: false),
            services => services.AddSingleton<IResultSink>(recording).AddSingleton<IFrameTap>(tap)))
        {
            await WaitUntil(() => recording.Results.Count(r => r.Sequence > 0) == 2 * frames, $"{2 * frames} results", TimeSpan.FromSeconds(60));
        }

        Assert.Equal(2 * frames, tap.Asked);
        Assert.Equal((frames + 1) / 2, tap.Taken.Count); // it wanted every other one of its camera's frames
        var pictures = Directory.GetFiles(InProcessSettings.DemoPictures, "*.jpg").Order(StringComparer.Ordinal).ToList();
        foreach (var (result, pixels) in tap.Taken)
        {
            Assert.Equal("demo", result.CameraId);
            Assert.Contains(recording.Results, r => r.Id == result.Id); // the result that was published
            using var picture = OpenCvSharp.Cv2.ImRead(pictures[(int)result.Sequence - 1]);
            Assert.Equal((picture.Width, picture.Height), (result.Width, result.Height));
            picture.GetArray(out OpenCvSharp.Vec3b[] expected);
            Assert.True(pixels.AsSpan().SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected.AsSpan())), $"frame {result.Sequence}'s pixels");
        }
    }

    [Fact]
    public async Task A_stalled_sink_drops_by_its_policy_and_holds_up_neither_the_other_sink_nor_the_detector()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        await using var subscriber = await MqttSubscriber.StartAsync(broker.Port, "inspection/plant1/lineA/+/result");
        var stalled = new RecordingSink("stalled", SinkFullPolicy.DropOldest, capacity: 4);
        stalled.Open.Reset();
        await using var worker = await InProcessWorker.StartAsync(
            InProcessSettings.Demo(folder, broker.Port, cameras: ["cam1", "cam2"], fps: 20),
            services => services.AddSingleton<IResultSink>(stalled));
        await WaitUntil(() => subscriber.Snapshot().Count >= 40, "results flowing", TimeSpan.FromSeconds(60));

        // For four seconds the stalled sink takes nothing: the JSON results keep pace with the detector, which keeps
        // inspecting (the cameras offer 40/s, near what 2 cores inspect, so its rate is measured, not assumed).
        var metrics = worker.Get<WorkerMetrics>();
        double Inspected() => metrics.Camera("cam1").Inspected.Value + metrics.Camera("cam2").Inspected.Value;
        var (results, inspected) = (subscriber.Snapshot().Count, Inspected());
        var watch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(4));
        var rate = (subscriber.Snapshot().Count - results) / watch.Elapsed.TotalSeconds;
        var inspectedRate = (Inspected() - inspected) / watch.Elapsed.TotalSeconds;
        Assert.True(inspectedRate >= 0.5 * 40, $"the detector inspected {inspectedRate:0.0} frames/s while a sink stalled; the cameras offer 40/s");
        Assert.True(rate >= 0.9 * inspectedRate, $"JSON results at {rate:0.0}/s while the other sink stalled; the detector inspected {inspectedRate:0.0}/s");

        var dropped = metrics.SinkItems.WithLabels("stalled", "dropped").Value;
        Assert.True(dropped > 50, $"the stalled sink's buffer dropped {dropped} items");
        Assert.Equal(0, metrics.SinkItems.WithLabels("mqtt", "dropped").Value);

        // Unstalled, it takes the newest items again.
        stalled.Open.Set();
        var taken = stalled.Items.Count;
        await WaitUntil(() => stalled.Items.Count > taken + 20, "the sink taking items again", TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_hung_broker_stalls_only_its_own_output_JSON_and_Sparkplug_on_two_brokers_each_paused_with_SIGSTOP()
    {
        using var folder = new TempFolder();
        using var jsonBroker = ServerProcess.Mosquitto(folder.Path);
        using var scadaBroker = ServerProcess.Mosquitto(Directory.CreateDirectory(folder.File("scada")).FullName);
        await using var json = await MqttSubscriber.StartAsync(jsonBroker.Port, "inspection/plant1/lineA/+/result", "json");
        await using var scada = await MqttSubscriber.StartAsync(scadaBroker.Port, "spBv1.0/Plant1/#", "scada");
        var settings = InProcessSettings.Demo(folder, jsonBroker.Port, cameras: ["cam1", "cam2"], fps: 20);
        settings["Inspection:Mqtt:KeepAlive"] = "00:00:01";
        settings["Inspection:Mqtt:ConnectTimeout"] = "00:00:01";
        settings["Inspection:Sparkplug:Enabled"] = "true";
        settings["Inspection:Sparkplug:Host"] = "127.0.0.1";
        settings["Inspection:Sparkplug:Port"] = scadaBroker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Inspection:Sparkplug:GroupId"] = "Plant1";
        settings["Inspection:Sparkplug:EdgeNodeId"] = "LineA";
        settings["Inspection:Sparkplug:PublishTimeout"] = "00:00:01";
        settings["Inspection:Sparkplug:Buffer:Capacity"] = "16";
        await using var worker = await InProcessWorker.StartAsync(settings);
        var metrics = worker.Get<WorkerMetrics>();
        int Results() => json.Snapshot().Count;
        int Data() => scada.Snapshot().Count(m => m.Topic.Contains("/DDATA/", StringComparison.Ordinal));
        await WaitUntil(() => Results() >= 40 && Data() >= 40, "both outputs flowing", TimeSpan.FromSeconds(60));

        // The SCADA broker hangs: the JSON results go on at the rate they had before (the cameras offer 40/s, which is
        // near what 2 cores inspect, so the rate is measured first rather than assumed); Sparkplug holds its data in its
        // buffer, which drops the oldest.
        var jsonRate = await RateAsync(Results, TimeSpan.FromSeconds(4));
        scadaBroker.Pause();
        var rate = await RateAsync(Results, TimeSpan.FromSeconds(4));
        Assert.True(rate >= 0.8 * jsonRate, $"JSON results at {rate:0.0}/s while the SCADA broker hung, {jsonRate:0.0}/s before");
        await WaitUntil(() => metrics.SinkItems.WithLabels("sparkplug", "dropped").Value > 0, "the Sparkplug buffer dropping its oldest items", TimeSpan.FromSeconds(60), () => string.Join("\n", worker.Lines.TakeLast(30)));
        Assert.Equal(0, metrics.SinkItems.WithLabels("mqtt", "dropped").Value);
        var node = worker.Get<SinkFanOut>().Sinks.OfType<SparkplugSink>().Single();
        int Births() => worker.Lines.Count(l => l.Contains(" born (bdSeq", StringComparison.Ordinal));
        var births = Births();
        scadaBroker.Resume();
        var resumed = scada.Snapshot().Count;
        await WaitUntil(() => node.IsLive && Births() > births, "a new Sparkplug session after the broker came back", TimeSpan.FromSeconds(60), () => string.Join("\n", worker.Lines.TakeLast(30)));
        await WaitUntil(() => scada.Snapshot().Skip(resumed).Count(m => m.Topic.Contains("/DDATA/", StringComparison.Ordinal)) > 40, "Sparkplug data again", TimeSpan.FromSeconds(60), () => string.Join("\n", worker.Lines.TakeLast(30)));

        // The JSON broker hangs: Sparkplug goes on as before; the JSON results wait in the disk queue and all arrive afterwards.
        var dataRate = await RateAsync(Data, TimeSpan.FromSeconds(4));
        jsonBroker.Pause();
        var hungRate = await RateAsync(Data, TimeSpan.FromSeconds(4));
        Assert.True(hungRate >= 0.8 * dataRate, $"DDATA at {hungRate:0.0}/s while the JSON broker hung, {dataRate:0.0}/s before");
        jsonBroker.Resume();
        await worker.StopAsync();
        var published = worker.Get<Inspection.Worker.Pipeline.CameraFeeds>().Sum(f => metrics.Camera(f.Id).Published);
        await WaitUntil(() => json.Snapshot().Select(m => m.Topic + JsonNode.Parse(m.Payload)!["sequence"]).Distinct().Count() >= published, $"all {published} JSON results after the broker came back", TimeSpan.FromSeconds(60));
    }

    /// <summary>How fast <paramref name="count"/> grows over <paramref name="window"/>, per second.</summary>
    private static async Task<double> RateAsync(Func<int> count, TimeSpan window)
    {
        var before = count();
        var watch = Stopwatch.StartNew();
        await Task.Delay(window);
        return (count() - before) / watch.Elapsed.TotalSeconds;
    }

    private static System.Text.Json.JsonElement JsonDocument(JsonNode node) => System.Text.Json.JsonDocument.Parse(node.ToJsonString()).RootElement;


    /// <summary>A clock that always says the same time: publish times in a snapshot.</summary>
    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

/// <summary>Wants every other frame of one camera, and keeps a copy of each frame it takes.</summary>
internal sealed class RecordingTap(string camera) : IFrameTap
{
    private int _asked;
    private int _ofCamera;

    public int Asked => Volatile.Read(ref _asked);

    public List<(InspectionResult Result, byte[] Pixels)> Taken { get; } = [];

    public bool Wants(string cameraId, long nowTimestamp)
    {
        Interlocked.Increment(ref _asked);
        return cameraId == camera && _ofCamera++ % 2 == 0;
    }

    public void Take(in ImageView image, InspectionResult result)
    {
        var pixels = new byte[image.Width * image.Channels * image.Height];
        for (var row = 0; row < image.Height; row++)
        {
            image.Pixels.Span.Slice(row * image.Stride, image.Width * image.Channels).CopyTo(pixels.AsSpan(row * image.Width * image.Channels));
        }

        lock (Taken)
        {
            Taken.Add((result, pixels));
        }
    }
}

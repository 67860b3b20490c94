using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Inspection.Core;
using Inspection.TestSupport;
using static Inspection.TestSupport.Waiting;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Worker.Tests;

/// <summary>Faults and bad input: mutated requests, a worker killed mid-stream; each with what must hold afterwards.</summary>
[Collection("Worker processes")]
public sealed class FaultCampaignTests
{
    private const string Line = "inspection/plant1/lineA";

    [Fact]
    public async Task Mutated_trigger_and_command_payloads_crash_nothing_and_each_is_answered()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["belt", "station"], fps: 5);
        settings["Inspection:Cameras:1:Mode"] = "Triggered";
        settings["Inspection:Access:CommandQueueCapacity"] = "1024";
        await using var worker = await InProcessWorker.StartAsync(settings);
        await using var client = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/#", "fuzzer");
        await WaitUntil(() => client.Snapshot().Any(m => m.Topic == $"{Line}/belt/result"), "results", TimeSpan.FromSeconds(30));

        var random = new Random(20261201);
        var count = TestScale.Pick(sample: 300, full: 3000);
        var commands = 0;
        var triggers = 0;
        for (var i = 0; i < count; i++)
        {
            var payload = Mutate(random, random.Next(2) == 0 ? "{\"partId\": \"P-17\", \"time\": \"2026-11-28T11:59:59.5Z\"}" : "{\"id\": 3, \"confidence\": 0.4, \"class\": \"crack\"}");
            switch (random.Next(4))
            {
                case 0:
                    await client.PublishAsync($"{Line}/station/trigger", payload);
                    triggers++;
                    break;
                case 1:
                    await client.PublishAsync($"{Line}/belt/trigger", payload); // a continuous camera: refused with a reply
                    triggers++;
                    break;
                case 2:
                    await client.PublishAsync($"{Line}/station/cmd/set-thresholds", payload);
                    commands++;
                    break;
                default:
                    await client.PublishAsync($"{Line}/cmd/{Name(random)}", payload);
                    commands++;
                    break;
            }
        }

        // Every command gets a reply; every trigger a verdict or a reply; the worker still inspects.
        await WaitUntil(() => client.Snapshot().Count(m => m.Topic.Contains("/cmd/", StringComparison.Ordinal) && m.Topic.EndsWith("/reply", StringComparison.Ordinal)) == commands, $"{commands} command replies", TimeSpan.FromSeconds(120));
        await WaitUntil(() => client.Snapshot().Count(m => m.Topic.EndsWith("/trigger/reply", StringComparison.Ordinal))
                              + client.Snapshot().Count(m => m.Topic == $"{Line}/station/result") >= triggers, $"{triggers} trigger answers", TimeSpan.FromSeconds(120));
        var before = client.Snapshot().Count(m => m.Topic == $"{Line}/belt/result");
        await WaitUntil(() => client.Snapshot().Count(m => m.Topic == $"{Line}/belt/result") > before + 5, "results after the campaign", TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(worker.Lines, l => l.Contains("failed inside the service", StringComparison.Ordinal) || l.Contains("Unhandled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_worker_killed_mid_stream_loses_no_accepted_result_and_deduplicating_by_id_keeps_each_once()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        await using var subscriber = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/+/result", "plc");
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["cam1", "cam2", "cam3", "cam4"], fps: 10);
        settings["Inspection:Mqtt:ClientId"] = "worker";
        using (var first = WorkerProcess.Start(folder.Path, settings))
        {
            await WaitUntil(() => subscriber.Snapshot().Count >= 80, "results of the first run", TimeSpan.FromSeconds(60));
            first.Kill(); // SIGKILL mid-stream: whatever was accepted is in the disk queue
        }

        using var second = WorkerProcess.Start(folder.Path, settings);
        await WaitUntil(() => Runs(subscriber).Count == 2 && Frames(subscriber).Count(f => f.Run == Runs(subscriber)[1]) >= 80, "results of the second run", TimeSpan.FromSeconds(60));
        PipelineTests.StopCleanly(second);
        var summary = second.Lines.Where(l => l.Contains("results published", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, summary.Count);
        var published = summary.ToDictionary(
            line => line.Split("Camera ")[1].Split(':')[0],
            line => long.Parse(line.Split(" results published")[0].Split(", ")[^1], CultureInfo.InvariantCulture));
        long Received(string camera) => Frames(subscriber).Where(f => f.Run == Runs(subscriber)[1] && f.Camera == camera).Select(f => f.Sequence).Distinct().Count();
        // The broker acknowledged every result before the worker exited; it may still be passing the last ones on.
        await WaitUntil(() => published.All(p => Received(p.Key) >= p.Value), "the second run's results at the subscriber", TimeSpan.FromSeconds(30),
            () => string.Join(", ", published.Select(p => $"{p.Key}: {Received(p.Key)} of {p.Value}")));

        // Per run and camera: sequences 1..n without a gap (DeliverAll cameras drop nothing); the second run all of them.
        var frames = Frames(subscriber);
        foreach (var group in frames.GroupBy(f => (f.Run, f.Camera)))
        {
            var sequences = group.Select(f => f.Sequence).Distinct().Order().ToList();
            Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences);
        }

        foreach (var (camera, count) in published)
        {
            Assert.Equal(count, Received(camera));
        }

        // The documented key: deduplicating by id keeps exactly one result per frame of each run; (camera, sequence) alone would not.
        var byId = frames.DistinctBy(f => f.Id).ToList();
        Assert.Equal(byId.Count, frames.Select(f => (f.Run, f.Camera, f.Sequence)).Distinct().Count());
        Assert.True(byId.Count > frames.Select(f => (f.Camera, f.Sequence)).Distinct().Count(), "the two runs share (camera, sequence) pairs, which is why they are not the key");
    }

    [Fact]
    public async Task A_folder_camera_with_truncated_and_bit_flipped_pictures_skips_them_and_inspects_the_rest()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var pictures = Directory.CreateDirectory(folder.File("pictures")).FullName;
        var random = new Random(20261201);
        var good = Directory.GetFiles(InProcessSettings.DemoPictures, "*.jpg").Order(StringComparer.Ordinal).ToList();
        foreach (var (file, i) in good.Select((f, i) => (f, i)))
        {
            var bytes = File.ReadAllBytes(file);
            File.WriteAllBytes(Path.Combine(pictures, $"{i:D2}-good.jpg"), bytes);
            File.WriteAllBytes(Path.Combine(pictures, $"{i:D2}-cut.jpg"), bytes[..random.Next(1, bytes.Length / 2)]);
            var flipped = (byte[])bytes.Clone();
            for (var flip = 0; flip < 50; flip++)
            {
                flipped[random.Next(flipped.Length)] ^= (byte)(1 << random.Next(8));
            }

            File.WriteAllBytes(Path.Combine(pictures, $"{i:D2}-flipped.jpg"), flipped);
        }

        var recording = new RecordingSink();
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["pictures"], fps: 50, loop: false);
        settings["Inspection:Cameras:0:Uri"] = pictures;
        await using (var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IResultSink>(recording)))
        {
            await WaitUntil(() => recording.Items.Any(i => i is { Kind: SinkItemKind.CameraStatus, Status.State: SourceState.Stopped }), "the end of the pictures", TimeSpan.FromSeconds(60));
            await worker.StopAsync();
        }

        // Every good picture is inspected; a picture OpenCV cannot decode is skipped with a warning, and one it decodes with damage is judged like any frame.
        var results = recording.Results.Where(r => r.Sequence > 0).ToList();
        Assert.InRange(results.Count, good.Count, 3 * good.Count);
        Assert.Equal(Enumerable.Range(1, results.Count).Select(i => (long)i), results.Select(r => r.Sequence));
    }

    [Fact]
    public async Task A_broker_killed_with_SIGKILL_and_an_RTSP_camera_back_at_another_resolution_leave_the_worker_inspecting()
    {
        using var folder = new TempFolder();

        // mosquitto saves sessions only at a clean stop unless told otherwise: after SIGKILL the subscriber's session
        // would be gone, and results the worker flushes before the subscriber is back would reach no one.
        using var broker = ServerProcess.Mosquitto(folder.Path, "allow_anonymous true", "autosave_on_changes true", "autosave_interval 1");
        var rtsp = ServerProcess.Rtsp(320, 240, fps: 10);
        try
        {
            await using var subscriber = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/+/result", "plc");
            var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["pictures", "rtsp"], fps: 10);
            settings["Inspection:Cameras:1:Uri"] = rtsp.RtspUrl;
            settings["Inspection:Cameras:1:Kind"] = "Auto";
            settings["Inspection:Cameras:1:Policy"] = "DropOldest";
            settings["Inspection:Cameras:1:ReconnectMaxDelay"] = "00:00:01";
            await using var worker = await InProcessWorker.StartAsync(settings);
            var metrics = worker.Get<Inspection.Worker.Observability.WorkerMetrics>();
            await WaitUntil(() => Sequences(subscriber, "pictures").Count >= 20 && Sequences(subscriber, "rtsp").Count >= 10, "results of both cameras", TimeSpan.FromSeconds(60));

            // The broker dies without a word and comes back 3 s later: results queue on disk meanwhile and all go out after.
            broker.Kill();
            var lastBefore = Sequences(subscriber, "pictures").Max();
            await Task.Delay(TimeSpan.FromSeconds(3));
            broker.Start();
            await WaitUntil(() => Sequences(subscriber, "pictures").Max() > lastBefore + 40, "results after the broker came back", TimeSpan.FromSeconds(60));

            // The RTSP camera comes back at another resolution: it reconnects and its results carry the new size.
            // Counting results would not do: results queued during the broker's outage (and QoS 1 redeliveries) still
            // arrive at the old size after the camera is gone.
            rtsp.Kill();
            rtsp = ServerProcess.Rtsp(640, 480, fps: 10, port: rtsp.Port);
            await WaitUntil(() => ImageSizes(subscriber, "rtsp").Count(size => size == "640x480") >= 10, "results of the camera at its new resolution", TimeSpan.FromSeconds(60));
            Assert.Equal(["320x240", "640x480"], ImageSizes(subscriber, "rtsp").Distinct().Order());
            await worker.StopAsync();

            // Nothing the worker accepted after the broker's death is missing: the broker lost at most what it had acknowledged before.
            var published = metrics.Camera("pictures").Published;
            await WaitUntil(() => Sequences(subscriber, "pictures").Count(s => s > lastBefore) >= published - lastBefore - 1, "every result after the broker's death", TimeSpan.FromSeconds(30));
            var missing = Enumerable.Range(1, (int)published).Where(s => !Sequences(subscriber, "pictures").Contains(s)).ToList();
            Assert.True(missing.All(s => s <= lastBefore + 1), $"missing after the broker's death: {string.Join(", ", missing)}");
        }
        finally
        {
            rtsp.Dispose();
        }
    }

    [SkippableFact]
    public async Task A_full_queue_and_evidence_volume_keeps_the_worker_up_says_so_once_and_recovers_when_there_is_room()
    {
        using var folder = new TempFolder();
        var volume = Directory.CreateDirectory(folder.File("volume")).FullName;
        var evidence = Directory.CreateDirectory(folder.File("evidence")).FullName;
        var mounted = Shell.Run("mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", volume);
        Skip.If(mounted != 0 && !SharedData.InCi, "cannot mount a small tmpfs here (not root?)");
        Assert.Equal(0, mounted);
        Assert.Equal(0, Shell.Run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", evidence));
        try
        {
            using var broker = ServerProcess.Mosquitto(folder.Path);
            await using var subscriber = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/+/result", "plc");
            var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["cam1", "cam2"], fps: 25);
            settings["Inspection:Mqtt:Queue:Directory"] = Path.Combine(volume, "queue");
            settings["Inspection:Evidence:Enabled"] = "true";
            settings["Inspection:Evidence:Directory"] = Path.Combine(evidence, "dataset");
            var running = Stopwatch.StartNew();
            await using var worker = await InProcessWorker.StartAsync(settings);
            var metrics = worker.Get<Inspection.Worker.Observability.WorkerMetrics>();
            await WaitUntil(() => subscriber.Snapshot().Count >= 20, "results", TimeSpan.FromSeconds(60));

            // The broker goes away: the queue grows until the volume is full; the worker keeps inspecting and says so once.
            broker.Stop();
            await WaitUntil(() => worker.Lines.Any(l => l.Contains("the disk does not take new messages", StringComparison.Ordinal)), "the disk-full line", TimeSpan.FromSeconds(90));
            var inspected = metrics.FramesInspected.WithLabels("cam1").Value;
            await WaitUntil(() => metrics.FramesInspected.WithLabels("cam1").Value > inspected + 25, "inspection going on with a full disk", TimeSpan.FromSeconds(30));
            Assert.Single(worker.Lines, l => l.Contains("the disk does not take new messages", StringComparison.Ordinal));
            Assert.True(worker.Get<Inspection.Worker.Output.MessagingHost>().Session.Counters.Unwritable > 0);
            await WaitUntil(() => metrics.Evidence.WithLabels("ng", "failed").Value > 0, "evidence refused by its full volume", TimeSpan.FromSeconds(30));
            Assert.InRange(worker.Lines.Count(l => l.Contains("not saved", StringComparison.Ordinal)), 1, 1 + (int)(running.Elapsed.TotalSeconds / 10)); // one line every 10 s at most

            // The broker is back: the queue drains, which makes room, and new results flow again.
            broker.Start();
            await WaitUntil(() => worker.Lines.Any(l => l.Contains("the disk takes messages again", StringComparison.Ordinal)), "room again", TimeSpan.FromSeconds(90));
            var count = subscriber.Snapshot().Count;
            await WaitUntil(() => subscriber.Snapshot().Count > count + 20, "new results after the disk had room", TimeSpan.FromSeconds(60));
        }
        finally
        {
            Shell.Run("umount", "-l", volume);
            Shell.Run("umount", "-l", evidence);
        }
    }

    private static List<long> Sequences(MqttSubscriber subscriber, string camera) =>
        [.. subscriber.Snapshot().Where(m => m.Topic == $"{Line}/{camera}/result").Select(m => JsonDocument.Parse(m.Payload).RootElement.GetProperty("sequence").GetInt64()).Where(s => s > 0)];

    /// <summary>The image size of each inspected frame's result of <paramref name="camera"/>, as "WIDTHxHEIGHT", in arrival order.</summary>
    private static List<string> ImageSizes(MqttSubscriber subscriber, string camera) =>
        [.. subscriber.Snapshot().Where(m => m.Topic == $"{Line}/{camera}/result").Select(m => JsonDocument.Parse(m.Payload).RootElement)
            .Where(result => result.GetProperty("sequence").GetInt64() > 0).Select(result => result.GetProperty("image"))
            .Select(image => $"{image.GetProperty("width")}x{image.GetProperty("height")}")];

    private sealed record Frame(string Id, string Run, string Camera, long Sequence);

    private static List<Frame> Frames(MqttSubscriber subscriber) =>
        [.. subscriber.Snapshot().Select(m =>
        {
            using var json = JsonDocument.Parse(m.Payload);
            var root = json.RootElement;
            return new Frame(root.GetProperty("id").GetString()!, root.GetProperty("run").GetString()!, root.GetProperty("camera").GetString()!, root.GetProperty("sequence").GetInt64());
        })];

    private static List<string> Runs(MqttSubscriber subscriber) => [.. Frames(subscriber).Select(f => f.Run).Distinct()];

    /// <summary>One of: random bytes, a truncation, deep nesting, a huge value, swapped types, invalid UTF-8, the seed itself.</summary>
    private static string Mutate(Random random, string seed) => random.Next(8) switch
    {
        0 => Encoding.Latin1.GetString([.. Enumerable.Range(0, random.Next(1, 200)).Select(_ => (byte)random.Next(256))]),
        1 => seed[..random.Next(seed.Length)],
        2 => new string('[', 5000) + new string(']', 5000),
        3 => "{\"partId\": \"" + new string('x', 200_000) + "\", \"confidence\": 0.4}",
        4 => seed.Replace("0.4", "\"0.4\"", StringComparison.Ordinal).Replace("\"P-17\"", "[17]", StringComparison.Ordinal),
        5 => "{\"partId\": \"\u0000\u0001\", \"confidence\": 1e308, \"class\": null}",
        6 => string.Concat(seed.Select(c => random.Next(20) == 0 ? (char)random.Next(32, 127) : c)),
        _ => seed,
    };

    private static string Name(Random random) => random.Next(5) switch
    {
        0 => "ping",
        1 => "get-thresholds",
        2 => "promote",
        3 => "ünïcödé",
        _ => new string((char)random.Next('a', 'z'), random.Next(1, 40)),
    };

}

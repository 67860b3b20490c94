using System.Globalization;
using System.Text;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

[Collection("Worker processes")]
public sealed class TriggeredTests
{
    [Fact]
    public async Task A_hundred_triggers_give_a_hundred_verdicts_with_their_part_ids_and_correlation_data()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        using var rtsp = ServerProcess.Rtsp(320, 240, fps: 25);
        await using var plc = await MqttSubscriber.StartAsync(broker.Port, "inspection/site/line/#", "plc");
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Cameras:0:Id"] = "station",
            ["Inspection:Cameras:0:Uri"] = rtsp.RtspUrl,
            ["Inspection:Cameras:0:Mode"] = "Triggered",
            ["Inspection:Cameras:1:Id"] = "overview",
            ["Inspection:Cameras:1:Uri"] = SharedData.Require("media/traffic_cKuhn517_MIT.mp4"),
            ["Inspection:Mqtt:Host"] = "127.0.0.1",
            ["Inspection:Mqtt:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
        });
        await worker.WaitForLineAsync("Inspecting station (triggered)", TimeSpan.FromSeconds(60));
        await PipelineTests.Until(() => plc.Snapshot().Any(m => m.Topic.EndsWith("/station/status", StringComparison.Ordinal) && m.Payload.Contains("\"online\":true", StringComparison.Ordinal)), "the station camera streaming", worker);

        for (var i = 1; i <= 100; i++)
        {
            var part = $"P-{i:000}";
            await plc.PublishAsync("inspection/site/line/station/trigger", $"{{\"partId\": \"{part}\"}}", Encoding.UTF8.GetBytes("corr-" + part));
            await Task.Delay(40);
        }

        await PipelineTests.Until(() => PublishedResult.Of(plc).Count(r => r.Camera == "station") >= 100, "100 verdicts", worker);
        var verdicts = PublishedResult.Of(plc).Where(r => r.Camera == "station").ToList();
        Assert.Equal(100, verdicts.Count);
        Assert.Equal(Enumerable.Range(1, 100).Select(i => $"P-{i:000}"), verdicts.Select(v => v.PartId).Order());
        Assert.All(verdicts, v =>
        {
            Assert.Equal("corr-" + v.PartId, Encoding.UTF8.GetString(v.CorrelationData!));
            Assert.True(v.Sequence > 0, $"{v.PartId}: {v.Verdict} {v.Reason}"); // a frame was inspected for every part, in time
        });
        Assert.Equal(verdicts.Count, verdicts.Select(v => v.Sequence).Distinct().Count()); // a frame answers one trigger

        // Triggers the worker cannot take are answered with the reason, not dropped silently.
        await plc.PublishAsync("inspection/site/line/overview/trigger", "{\"partId\": \"Q-1\"}");
        await plc.PublishAsync("inspection/site/line/station/trigger", "{\"part\": 1}");
        await PipelineTests.Until(() => plc.Snapshot().Count(m => m.Topic.EndsWith("/trigger/reply", StringComparison.Ordinal)) >= 2, "two refusals", worker);
        var refusals = plc.Snapshot().Where(m => m.Topic.EndsWith("/trigger/reply", StringComparison.Ordinal)).Select(m => m.Payload).ToList();
        Assert.Contains(refusals, r => r.Contains("inspects continuously", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.Contains("no \\u0022partId\\u0022", StringComparison.Ordinal) || r.Contains("no \"partId\"", StringComparison.Ordinal));

        var metrics = await worker.GetAsync("/metrics");
        Assert.Equal(100, PipelineTests.Metric(metrics, "inspection_triggers_total{camera=\"station\",outcome=\"answered\"}"));
        PipelineTests.StopCleanly(worker);
    }

    [Fact]
    public async Task A_trigger_for_a_camera_that_is_down_gets_an_unknown_verdict_at_once()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        await using var plc = await MqttSubscriber.StartAsync(broker.Port, "inspection/site/line/#", "plc");
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Cameras:0:Id"] = "station",
            ["Inspection:Cameras:0:Uri"] = $"rtsp://127.0.0.1:{ServerProcess.FreePort()}/nothing",
            ["Inspection:Cameras:0:Mode"] = "Triggered",
            ["Inspection:Mqtt:Host"] = "127.0.0.1",
            ["Inspection:Mqtt:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
        });
        await worker.WaitForLineAsync("Inspecting station", TimeSpan.FromSeconds(60));
        await PipelineTests.Until(() => plc.Snapshot().Any(m => m.Topic.EndsWith("/service/status", StringComparison.Ordinal)), "the worker connected", worker);
        await plc.PublishAsync("inspection/site/line/station/trigger", "{\"partId\": \"P-9\"}");
        await PipelineTests.Until(() => PublishedResult.Of(plc).Any(r => r.PartId == "P-9"), "a verdict for P-9", worker);
        var verdict = PublishedResult.Of(plc).Single(r => r.PartId == "P-9");
        Assert.Equal("UNKNOWN", verdict.Verdict);
        Assert.StartsWith("camera down", verdict.Reason);
        PipelineTests.StopCleanly(worker);
    }
}

using System.Globalization;
using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

/// <summary>
/// The worker as a Sparkplug B edge node, watched by a primary host that shares none of our generated code
/// (payloads read by protoc --decode_raw), beside a JSON subscriber, against a real mosquitto and RTSP server.
/// </summary>
[Collection("Worker processes")]
public sealed class SparkplugWorkerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Births_data_per_frame_matching_the_JSON_results_rebirth_camera_death_host_state_and_the_nodes_death()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        using var rtsp = ServerProcess.Rtsp(320, 240, fps: 15);
        await using var host = await SparkplugHost.StartAsync(broker.Port, "Plant1", "scada");
        await host.PublishStateAsync(online: true);
        await using var json = await MqttSubscriber.StartAsync(broker.Port, "inspection/plant1/lineA/+/result", "json-subscriber");
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Cameras:0:Id"] = "rtsp",
            ["Inspection:Cameras:0:Uri"] = rtsp.RtspUrl,
            ["Inspection:Cameras:0:ReconnectMaxDelay"] = "00:00:01",
            ["Inspection:Cameras:1:Id"] = "pictures",
            ["Inspection:Cameras:1:Uri"] = InProcessSettings.DemoPictures,
            ["Inspection:Cameras:1:Kind"] = "Folder",
            ["Inspection:Cameras:1:FolderFps"] = "20",
            ["Inspection:Cameras:1:Loop"] = "true",
            ["Inspection:Mqtt:Host"] = "127.0.0.1",
            ["Inspection:Mqtt:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Mqtt:Site"] = "plant1",
            ["Inspection:Mqtt:Line"] = "lineA",
            ["Inspection:Evidence:Enabled"] = "false",
            ["Inspection:Sparkplug:Enabled"] = "true",
            ["Inspection:Sparkplug:GroupId"] = "Plant1",
            ["Inspection:Sparkplug:EdgeNodeId"] = "LineA",
            ["Inspection:Sparkplug:PrimaryHostId"] = "scada",
        });

        // NBIRTH, then a DBIRTH for each camera.
        var birth = await host.WaitForAsync(m => m.Type == "NBIRTH", Wait, "the NBIRTH");
        Assert.Equal(0ul, birth.Payload.Seq);
        var bdSeq = birth.Metric("bdSeq")!.IntOrLong;
        await host.WaitForAsync(m => m.Type == "DBIRTH" && m.Device == "rtsp" && m.Order > birth.Order, Wait, "rtsp's DBIRTH");
        await host.WaitForAsync(m => m.Type == "DBIRTH" && m.Device == "pictures" && m.Order > birth.Order, Wait, "pictures' DBIRTH");

        // More than 256 messages: seq runs 0-255 without a gap and wraps; every DDATA's verdict is its frame's JSON verdict.
        await host.WaitForAsync(m => m.Order > birth.Order + 300, TimeSpan.FromSeconds(60), "300 messages after the birth");
        var session = host.Messages.Where(m => m.Order >= birth.Order && m.Type is "DBIRTH" or "DDATA" or "DDEATH" or "NBIRTH").Take(300).ToList();
        for (var i = 1; i < session.Count; i++)
        {
            Assert.True((session[i - 1].Payload.Seq + 1) % 256 == session[i].Payload.Seq, $"seq {session[i - 1].Payload.Seq} then {session[i].Payload.Seq}: {session[i - 1]} -> {session[i]}");
        }

        var data = session.Where(m => m.Type == "DDATA").Select(m => (Frame: (m.Device!, (long)m.Metric("Inspection/Sequence")!.IntOrLong!.Value), Verdict: m.Metric("Inspection/Verdict")!.String)).ToList();
        Assert.True(data.Count > 250, $"{data.Count} DDATA");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!data.All(d => JsonResults(json).ContainsKey(d.Frame)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var verdicts = JsonResults(json);
        foreach (var (frame, verdict) in data)
        {
            Assert.True(verdicts.TryGetValue(frame, out var expected), $"no JSON result for {frame}");
            Assert.Equal(expected, verdict);
        }

        // A rebirth on the host's command: NBIRTH with seq 0 and the same bdSeq, then the DBIRTHs.
        await host.RebirthAsync("LineA");
        var reborn = await host.WaitForAsync(m => m.Type == "NBIRTH" && m.Order > birth.Order, Wait, "the rebirth");
        Assert.Equal(0ul, reborn.Payload.Seq);
        Assert.Equal(bdSeq, reborn.Metric("bdSeq")!.IntOrLong);
        await host.WaitForAsync(m => m.Type == "DBIRTH" && m.Device == "pictures" && m.Order > reborn.Order, Wait, "the DBIRTHs after the rebirth");

        // The RTSP server dies: DDEATH for its camera; it returns: DBIRTH.
        rtsp.Kill();
        var death = await host.WaitForAsync(m => m.Type == "DDEATH" && m.Device == "rtsp", Wait, "rtsp's DDEATH");
        rtsp.Start();
        await host.WaitForAsync(m => m.Type == "DBIRTH" && m.Device == "rtsp" && m.Order > death.Order, Wait, "rtsp's DBIRTH when it returns");

        // The primary host goes offline: NDEATH, and no DDATA until it is back; then a new session is born.
        await host.PublishStateAsync(online: false);
        var quiet = await host.WaitForAsync(m => m.Type == "NDEATH", Wait, "the NDEATH when the primary host goes offline");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.DoesNotContain(host.Messages, m => m.Order > quiet.Order && m.Type is "DDATA" or "NBIRTH" or "DBIRTH");
        await host.PublishStateAsync(online: true);
        var next = await host.WaitForAsync(m => m.Type == "NBIRTH" && m.Order > quiet.Order, Wait, "the birth when the primary host is back");
        var nextBdSeq = next.Metric("bdSeq")!.IntOrLong;
        Assert.NotEqual(bdSeq, nextBdSeq);
        await host.WaitForAsync(m => m.Type == "DDATA" && m.Order > next.Order, Wait, "data again");

        // The worker's connection is cut (the process killed): the broker delivers its Will, an NDEATH with the session's bdSeq.
        worker.Kill();
        var will = await host.WaitForAsync(m => m.Type == "NDEATH" && m.Order > next.Order, Wait, "the NDEATH Will");
        Assert.Equal(nextBdSeq, will.Metric("bdSeq")!.IntOrLong);
    }

    private static Dictionary<(string Camera, long Sequence), string> JsonResults(MqttSubscriber json)
    {
        var verdicts = new Dictionary<(string, long), string>();
        foreach (var message in json.Snapshot())
        {
            using var document = JsonDocument.Parse(message.Payload);
            var root = document.RootElement;
            verdicts[(root.GetProperty("camera").GetString()!, root.GetProperty("sequence").GetInt64())] = root.GetProperty("verdict").GetString()!;
        }

        return verdicts;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Inspection.TestSupport;
using static Inspection.TestSupport.Waiting;
using Inspection.Worker.Control;
using MQTTnet;
using MQTTnet.Protocol;

namespace Inspection.Worker.Tests;

/// <summary>Commands over a real mosquitto to the worker's services in this process: replies by the MQTT reply rule.</summary>
[Collection("Worker processes")]
public sealed class MqttCommandTests
{
    [Fact]
    public async Task Commands_are_answered_on_the_response_topic_with_the_correlation_data_or_on_the_reply_topic()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        await using var replies = await MqttSubscriber.StartAsync(broker.Port, "#", "reply-watcher");
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["cam1", "cam2"]);
        settings["Inspection:Access:ResponseTopics:0"] = "plc/replies";
        await using var worker = await InProcessWorker.StartAsync(settings);
        await WaitUntil(() => replies.Snapshot().Any(m => m.Topic.EndsWith("/result", StringComparison.Ordinal)), "the first result");

        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build());
        await client.SubscribeAsync("plc/replies");
        var correlated = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            correlated.TrySetResult(e.ApplicationMessage);
            return Task.CompletedTask;
        };

        // MQTT 5: response topic and correlation data.
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("inspection/plant1/lineA/cam1/cmd/set-thresholds")
            .WithPayload("{\"id\":7,\"confidence\":0.4}").WithResponseTopic("plc/replies").WithCorrelationData([9, 8, 7])
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        var answer = await correlated.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new byte[] { 9, 8, 7 }, answer.CorrelationData);
        var reply = JsonNode.Parse(Encoding.UTF8.GetString(answer.Payload))!;
        Assert.True((bool)reply["ok"]!, reply.ToJsonString());
        Assert.Equal(7, (int)reply["id"]!);
        Assert.Equal(0.4, (double)reply["result"]!["cam1"]!["crack"]!);

        // A response topic outside the line's replies and the allowed ones (here: a camera's result topic) is refused on the default reply topic.
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("inspection/plant1/lineA/cam1/cmd/ping")
            .WithPayload("{}").WithResponseTopic("inspection/plant1/lineA/cam1/result").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await WaitUntil(() => replies.Snapshot().Any(m => m.Topic == "inspection/plant1/lineA/cam1/cmd/ping/reply"), "the refusal of a foreign response topic");
        Assert.Contains("is outside inspection/plant1/lineA/replies/", replies.Snapshot().First(m => m.Topic == "inspection/plant1/lineA/cam1/cmd/ping/reply").Payload, StringComparison.Ordinal);
        Assert.DoesNotContain(replies.Snapshot(), m => m.Topic == "inspection/plant1/lineA/cam1/result" && m.Payload.Contains("\"command\"", StringComparison.Ordinal));

        // MQTT 3.1.1 style from mosquitto_pub: the reply goes to the command topic + /reply.
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-V", "mqttv311", "-q", "1", "-t", "inspection/plant1/lineA/cmd/ping", "-m", "{}");
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-q", "1", "-t", "inspection/plant1/lineA/cmd/reboot", "-m", "{}");
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-q", "1", "-t", "inspection/plant1/lineA/cam2/cmd/set-thresholds", "-m", "{not json");
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-q", "1", "-t", "inspection/plant1/lineA/cam2/cmd/set-thresholds", "-m", "{\"confidence\":3}");
        await WaitUntil(() => replies.Snapshot().Count(m => m.Topic.EndsWith("/reply", StringComparison.Ordinal)) >= 5, "four more replies");

        var byTopic = replies.Snapshot().Where(m => m.Topic.EndsWith("/reply", StringComparison.Ordinal)).GroupBy(m => m.Topic).ToDictionary(g => g.Key, g => g.Select(m => JsonNode.Parse(m.Payload)!).ToList());
        Assert.True((bool)byTopic["inspection/plant1/lineA/cmd/ping/reply"][0]["ok"]!);
        await WaitUntil(() => replies.Snapshot().Count(m => m.Topic == "inspection/plant1/lineA/service/audit") == 6, "an audit event for every command, accepted or refused");
        var audits = replies.Snapshot().Where(m => m.Topic == "inspection/plant1/lineA/service/audit").Select(m => JsonNode.Parse(m.Payload)!).ToList();
        Assert.Equal(["set-thresholds accepted", "ping refused", "ping accepted", "reboot refused", "set-thresholds refused", "set-thresholds refused"], audits.Select(a => $"{a["command"]} {a["outcome"]}"));
        Assert.All(audits, a => Assert.Equal("unknown", (string?)a["user"])); // mosquitto does not say who published: its ACL decides
        var known = string.Join(", ", worker.Get<CommandRouter>().Names);
        Assert.Equal($"unknown command 'reboot'; known commands: {known}", (string?)byTopic["inspection/plant1/lineA/cmd/reboot/reply"][0]["error"]);
        Assert.Contains("set-thresholds", known, StringComparison.Ordinal);
        var thresholdReplies = byTopic["inspection/plant1/lineA/cam2/cmd/set-thresholds/reply"];
        Assert.Contains("not valid JSON", (string?)thresholdReplies[0]["error"]);
        Assert.StartsWith("confidence 3 is outside 0.05..0.95, the range commands may set", (string?)thresholdReplies[1]["error"], StringComparison.Ordinal);
        Assert.All(thresholdReplies, r => Assert.False((bool)r["ok"]!));

        // Still publishing after the bad commands.
        var before = replies.Snapshot().Count(m => m.Topic.EndsWith("/result", StringComparison.Ordinal));
        await WaitUntil(() => replies.Snapshot().Count(m => m.Topic.EndsWith("/result", StringComparison.Ordinal)) > before + 5, "results after the commands");
    }


    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(file, args);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }
}

/// <summary>Settings for an in-process worker: the bundled demo model and pictures as cameras, files in a test folder.</summary>
internal static class InProcessSettings
{
    public static string DemoPictures => Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "demo");

    /// <param name="brokerPort">The broker the worker publishes to (Inspection:Mqtt:Host is 127.0.0.1; tests that want the embedded broker remove the host).</param>
    public static Dictionary<string, string> Demo(TempFolder folder, int brokerPort, IReadOnlyList<string> cameras, double fps = 10, bool loop = true)
    {
        var settings = new Dictionary<string, string>
        {
            ["Inspection:Mqtt:Host"] = "127.0.0.1",
            ["Inspection:Mqtt:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Mqtt:Site"] = "plant1",
            ["Inspection:Mqtt:Line"] = "lineA",
            ["Inspection:Mqtt:ClientId"] = "worker-" + Guid.NewGuid().ToString("N")[..8],
            ["Inspection:Mqtt:ReconnectInitialDelay"] = "00:00:00.100",
            ["Inspection:Mqtt:Queue:Directory"] = folder.File("queue"),
            ["Inspection:Evidence:Enabled"] = "false",
            ["Inspection:Evidence:Directory"] = folder.File("evidence"),
            ["Inspection:Model:HeartbeatInterval"] = "00:00:00",
            ["Inspection:Sparkplug:BdSeqFile"] = folder.File("bdseq"),
        };
        for (var i = 0; i < cameras.Count; i++)
        {
            settings[$"Inspection:Cameras:{i}:Id"] = cameras[i];
            settings[$"Inspection:Cameras:{i}:Uri"] = DemoPictures;
            settings[$"Inspection:Cameras:{i}:Kind"] = "Folder";
            settings[$"Inspection:Cameras:{i}:FolderFps"] = fps.ToString(CultureInfo.InvariantCulture);
            settings[$"Inspection:Cameras:{i}:Loop"] = loop ? "true" : "false";
            settings[$"Inspection:Cameras:{i}:Policy"] = "DeliverAll";
        }

        return settings;
    }
}

using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Messaging;
using Inspection.TestSupport;
using MQTTnet;
using MQTTnet.Protocol;

namespace Inspection.Messaging.Tests;

[Collection(nameof(PublisherTests))]
public sealed class CommandTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Commands_are_answered_on_the_response_topic_with_the_correlation_data_or_on_the_reply_topic()
    {
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        var options = new MqttOptions
        {
            Host = "127.0.0.1", Port = broker.Port, Site = "plant1", Line = "lineA",
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(100), Queue = new DiskQueueOptions { Directory = _folder.File("queue") },
        };
        await using var publisher = new MqttPublisher(options);
        publisher.Commands.Register("threshold", (request, _) =>
        {
            var value = (double?)request.Arguments["confidence"] ?? throw new InspectionInputException("'confidence' is required");
            if (value is < 0 or > 1)
            {
                throw new InspectionInputException($"confidence {value} is outside 0..1");
            }

            return Task.FromResult<JsonNode?>(new JsonObject { ["camera"] = request.Camera, ["confidence"] = value });
        });
        publisher.Start();
        await using var replies = await MqttSubscriber.StartAsync(broker.Port, "#", "reply-watcher");
        await WaitUntil(() => publisher.IsConnected, "the connection");
        await Task.Delay(300); // the command subscription

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
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("inspection/plant1/lineA/cam1/cmd/threshold")
            .WithPayload("{\"id\":7,\"confidence\":0.4}").WithResponseTopic("plc/replies").WithCorrelationData([9, 8, 7])
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        var answer = await correlated.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new byte[] { 9, 8, 7 }, answer.CorrelationData);
        var reply = JsonNode.Parse(Encoding.UTF8.GetString(answer.Payload))!;
        Assert.True((bool)reply["ok"]!);
        Assert.Equal(7, (int)reply["id"]!);
        Assert.Equal("cam1", (string?)reply["result"]!["camera"]);
        Assert.Equal(0.4, (double)reply["result"]!["confidence"]!);

        // MQTT 3.1.1 style from mosquitto_pub: the reply goes to the command topic + /reply.
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-V", "mqttv311", "-q", "1", "-t", "inspection/plant1/lineA/cmd/ping", "-m", "{}");
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-q", "1", "-t", "inspection/plant1/lineA/cmd/reboot", "-m", "{}");
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-q", "1", "-t", "inspection/plant1/lineA/cam2/cmd/threshold", "-m", "{not json");
        Run("mosquitto_pub", "-h", "127.0.0.1", "-p", $"{broker.Port}", "-q", "1", "-t", "inspection/plant1/lineA/cam2/cmd/threshold", "-m", "{\"confidence\":3}");
        await WaitUntil(() => replies.Snapshot().Count(m => m.Topic.EndsWith("/reply", StringComparison.Ordinal)) >= 4, "four replies");

        var byTopic = replies.Snapshot().Where(m => m.Topic.EndsWith("/reply", StringComparison.Ordinal)).GroupBy(m => m.Topic).ToDictionary(g => g.Key, g => g.Select(m => JsonNode.Parse(m.Payload)!).ToList());
        Assert.True((bool)byTopic["inspection/plant1/lineA/cmd/ping/reply"][0]["ok"]!);
        Assert.Contains("unknown command 'reboot'; known commands: ping, threshold", (string?)byTopic["inspection/plant1/lineA/cmd/reboot/reply"][0]["error"]);
        var thresholdReplies = byTopic["inspection/plant1/lineA/cam2/cmd/threshold/reply"];
        Assert.Contains("not valid JSON", (string?)thresholdReplies[0]["error"]);
        Assert.Equal("confidence 3 is outside 0..1", (string?)thresholdReplies[1]["error"]);
        Assert.All(thresholdReplies, r => Assert.False((bool)r["ok"]!));

        // Still publishing after the bad commands.
        await publisher.PublishResultAsync(PublisherTests.Result("cam1", 1));
        Assert.True(await publisher.FlushAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(file, args);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }
}

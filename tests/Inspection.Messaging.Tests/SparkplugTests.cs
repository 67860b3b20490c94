using System.Diagnostics;
using Google.Protobuf;
using Inspection.Core;
using Inspection.Messaging.Sparkplug;
using Inspection.Messaging.Sparkplug.Protobuf;
using Inspection.TestSupport;
using MQTTnet;
using MQTTnet.Protocol;

namespace Inspection.Messaging.Tests;

/// <summary>The edge node against a real mosquitto; a subscriber decodes every message with the Sparkplug B schema.</summary>
[Collection(nameof(PublisherTests))]
public sealed class SparkplugTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private sealed record Message(string Type, string? Device, Payload Payload);

    [Fact]
    public async Task Births_data_sequence_numbers_rebirth_and_death_follow_the_Sparkplug_rules()
    {
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        using var proxy = new TcpProxy(broker.Port);
        var received = new List<Message>();
        using var host = new MqttClientFactory().CreateMqttClient();
        host.ApplicationMessageReceivedAsync += e =>
        {
            var parts = e.ApplicationMessage.Topic.Split('/'); // spBv1.0/group/TYPE/node[/device]
            if (parts[2] is "NCMD" or "DCMD")
            {
                return Task.CompletedTask; // the host's own commands
            }

            lock (received)
            {
                received.Add(new Message(parts[2], parts.Length > 4 ? parts[4] : null, Payload.Parser.ParseFrom(e.ApplicationMessage.Payload)));
            }

            return Task.CompletedTask;
        };
        await host.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithClientId("scada-host").Build());
        await host.SubscribeAsync("spBv1.0/Plant1/#", MqttQualityOfServiceLevel.AtLeastOnce);

        var mqtt = new MqttOptions { Host = "127.0.0.1", Port = proxy.Port, ClientId = "edge", Queue = new DiskQueueOptions { Directory = _folder.File("q") } };
        var sparkplug = new SparkplugOptions { GroupId = "Plant1", EdgeNodeId = "LineA", DataInterval = TimeSpan.Zero, BdSeqFile = _folder.File("bdseq") };
        var node = new SparkplugEdgeNode(mqtt, sparkplug);
        node.AddCamera("cam1", "v1");
        node.AddCamera("cam2", "v1");
        node.Start();
        await WaitUntil(() => Count(received) >= 3, "NBIRTH and two DBIRTHs");

        var births = Snapshot(received);
        Assert.Equal(("NBIRTH", (string?)null), (births[0].Type, births[0].Device));
        Assert.Equal(0ul, births[0].Payload.Seq);
        var bdSeq = Metric(births[0].Payload, "bdSeq").LongValue;
        Assert.False(Metric(births[0].Payload, SparkplugEdgeNode.RebirthMetric).BooleanValue);
        Assert.Equal(["cam1", "cam2"], births.Skip(1).Take(2).Select(m => m.Device).Order());
        Assert.All(births.Skip(1).Take(2), m => Assert.Equal("DBIRTH", m.Type));
        Assert.Equal("v1", Metric(births[1].Payload, "Model/Version").StringValue);

        // 300 changes: DDATA with only what changed, seq counting on past 255 and wrapping to 0.
        for (var i = 1; i <= 300; i++)
        {
            node.Record(PublisherTests.Result("cam1", i));
            await Task.Delay(2);
        }

        await WaitUntil(() => Snapshot(received).Any(m => m.Type == "DDATA" && m.Payload.Metrics.Any(x => x.Name == "Inspection/Frames" && x.LongValue == 300)), "the last DDATA");
        var session = Snapshot(received);
        var sequence = session.Select(m => m.Payload.Seq).ToList();
        for (var i = 1; i < sequence.Count; i++)
        {
            Assert.Equal((sequence[i - 1] + 1) % 256, sequence[i]);
        }

        Assert.True(session.Count > 256, $"only {session.Count} messages: the seq never wrapped");
        var data = session.Where(m => m.Type == "DDATA").ToList();
        Assert.All(data, m => Assert.Equal("cam1", m.Device));
        Assert.All(data, m => Assert.DoesNotContain(m.Payload.Metrics, x => x.Name == "Model/Version")); // unchanged, so not sent
        Assert.Contains(data, m => m.Payload.Metrics.Any(x => x.Name == "Inspection/Defects/dent")); // every tenth result is an NG with a dent

        // Rebirth on the host's command: NBIRTH with seq 0 and the same bdSeq, then the DBIRTHs again.
        var before = Count(received);
        var rebirth = new Payload { Timestamp = 1 };
        rebirth.Metrics.Add(new Payload.Types.Metric { Name = SparkplugEdgeNode.RebirthMetric, Datatype = (uint)DataType.Boolean, BooleanValue = true });
        await host.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("spBv1.0/Plant1/NCMD/LineA").WithPayload(rebirth.ToByteArray()).Build());
        await WaitUntil(() => Snapshot(received).Skip(before).Count(m => m.Type == "DBIRTH") == 2, "the rebirth");
        var reborn = Snapshot(received).Skip(before).ToList();
        Assert.Equal("NBIRTH", reborn[0].Type);
        Assert.Equal(0ul, reborn[0].Payload.Seq);
        Assert.Equal(bdSeq, Metric(reborn[0].Payload, "bdSeq").LongValue);
        Assert.Equal(300ul, Metric(reborn.First(m => m.Device == "cam1").Payload, "Inspection/Frames").LongValue);

        // Killed: the broker publishes the Will, an NDEATH with the same bdSeq.
        proxy.Cut();
        await WaitUntil(() => Snapshot(received).Any(m => m.Type == "NDEATH"), "the NDEATH");
        Assert.Equal(bdSeq, Metric(Snapshot(received).Last(m => m.Type == "NDEATH").Payload, "bdSeq").LongValue);
        await node.DisposeAsync();

        // Every CONNECT carries the next bdSeq, kept across restarts of the process.
        mqtt.Port = broker.Port;
        await using var again = new SparkplugEdgeNode(mqtt, sparkplug);
        again.Start();
        await WaitUntil(() => Snapshot(received).Count(m => m.Type == "NBIRTH") == 3, "the next birth");
        var next = Metric(Snapshot(received).Last(m => m.Type == "NBIRTH").Payload, "bdSeq").LongValue;
        Assert.Equal(again.BirthDeathSequence, next);
        Assert.InRange((next + 256 - bdSeq) % 256, 1ul, 255ul);
        Assert.Equal(next.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(sparkplug.BdSeqFile));
    }

    private static Payload.Types.Metric Metric(Payload payload, string name) => payload.Metrics.Single(m => m.Name == name);

    private static int Count(List<Message> received)
    {
        lock (received)
        {
            return received.Count;
        }
    }

    private static List<Message> Snapshot(List<Message> received)
    {
        lock (received)
        {
            return [.. received];
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}

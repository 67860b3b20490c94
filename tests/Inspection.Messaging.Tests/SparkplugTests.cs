using System.Diagnostics;
using System.Text;
using Google.Protobuf;
using Inspection.Core;
using Inspection.Messaging.Sparkplug;
using Inspection.Messaging.Sparkplug.Protobuf;
using Inspection.TestSupport;
using MQTTnet;
using MQTTnet.Protocol;

namespace Inspection.Messaging.Tests;

/// <summary>The Sparkplug sink against a real mosquitto; a subscriber decodes every message with the Sparkplug B schema.</summary>
[Collection(nameof(PublisherTests))]
public sealed class SparkplugTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private sealed record Message(string Type, string? Device, Payload Payload);

    [Fact]
    public async Task Births_data_by_alias_sequence_numbers_rebirth_and_death_follow_the_Sparkplug_rules()
    {
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        using var proxy = new TcpProxy(broker.Port);
        var (host, received) = await HostAsync(broker.Port);
        using var _ = host;

        var mqtt = new MqttOptions { Host = "127.0.0.1", Port = proxy.Port, ClientId = "edge", ReconnectInitialDelay = TimeSpan.FromMilliseconds(100), Queue = new DiskQueueOptions { Directory = _folder.File("q") } };
        var sparkplug = new SparkplugOptions { GroupId = "Plant1", EdgeNodeId = "LineA", BdSeqFile = _folder.File("bdseq") };
        var node = new SparkplugSink(mqtt, sparkplug);
        await node.StartAsync(CancellationToken.None);
        await WaitUntil(() => node.IsLive, "the node's birth");
        await node.WriteAsync(SinkItem.ForStatus(new SourceStatus("cam1", SourceState.Streaming, "640x360", DateTimeOffset.UtcNow)), default);
        await node.WriteAsync(SinkItem.ForStatus(new SourceStatus("cam2", SourceState.Streaming, "640x360", DateTimeOffset.UtcNow)), default);
        await WaitUntil(() => Snapshot(received).Count(m => m.Type == "DBIRTH") == 2, "two DBIRTHs");

        var births = Snapshot(received);
        Assert.Equal(("NBIRTH", (string?)null), (births[0].Type, births[0].Device));
        Assert.Equal(0ul, births[0].Payload.Seq);
        var bdSeq = Named(births[0].Payload, "bdSeq").LongValue;
        Assert.False(Named(births[0].Payload, SparkplugSink.RebirthMetric).BooleanValue);
        Assert.Equal(["cam1", "cam2"], births.Where(m => m.Type == "DBIRTH").Select(m => m.Device).Order());
        Assert.All(births[1].Payload.Metrics, m => Assert.True(m.HasName && m.HasAlias && m.HasDatatype));

        // 300 results: a DBIRTH again when the model's classes appear, then a DDATA per frame by alias only, seq wrapping past 255.
        for (var i = 1; i <= 300; i++)
        {
            await node.WriteAsync(SinkItem.ForResult(PublisherTests.Result("cam1", i)), default);
        }

        await WaitUntil(() => Snapshot(received).Count(m => m.Type == "DDATA") == 299, "a DDATA per frame after the rebirth");
        var session = Snapshot(received);
        var sequence = session.Select(m => m.Payload.Seq).ToList();
        for (var i = 1; i < sequence.Count; i++)
        {
            Assert.Equal((sequence[i - 1] + 1) % 256, sequence[i]);
        }

        var reborn = session.Last(m => m.Type == "DBIRTH" && m.Device == "cam1").Payload;
        Assert.Contains(reborn.Metrics, m => m.Name == "Inspection/Defects/dent");
        var names = reborn.Metrics.ToDictionary(m => m.Alias, m => m.Name);
        Assert.Equal(1ul, Metric(reborn, names, "Inspection/Sequence").LongValue);
        var data = session.Where(m => m.Type == "DDATA").ToList();
        Assert.All(data, m => Assert.Equal("cam1", m.Device));
        Assert.All(data.SelectMany(m => m.Payload.Metrics), m => Assert.False(m.HasName));
        Assert.Equal(Enumerable.Range(2, 299).Select(i => (ulong)i), data.Select(m => Metric(m.Payload, names, "Inspection/Sequence").LongValue));
        Assert.All(data.Where(m => Metric(m.Payload, names, "Inspection/Sequence").LongValue % 10 == 0), m => Assert.Equal("NG", Metric(m.Payload, names, "Inspection/Verdict").StringValue));
        Assert.DoesNotContain(data, m => m.Payload.Metrics.Any(x => names[x.Alias] == "Model/Version")); // unchanged, so not sent

        // A camera that stops streaming: DDEATH; it returns: DBIRTH.
        await node.WriteAsync(SinkItem.ForStatus(new SourceStatus("cam2", SourceState.Reconnecting, "connection refused", DateTimeOffset.UtcNow)), default);
        await WaitUntil(() => Snapshot(received).Any(m => m.Type == "DDEATH" && m.Device == "cam2"), "cam2's DDEATH");
        await node.WriteAsync(SinkItem.ForStatus(new SourceStatus("cam2", SourceState.Streaming, "640x360", DateTimeOffset.UtcNow)), default);
        await WaitUntil(() => Snapshot(received).Count(m => m.Type == "DBIRTH" && m.Device == "cam2") == 2, "cam2's new DBIRTH");

        // A DCMD is refused (threshold changes need authorisation); an NCMD rebirth sends NBIRTH with seq 0 and the same bdSeq, then the DBIRTHs.
        await host.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("spBv1.0/Plant1/DCMD/LineA/cam1").WithPayload(Command("Rules/Confidence/dent", 0.99).ToByteArray()).Build());
        await WaitUntil(() => node.CommandsRefused == 1, "the DCMD refused");
        var before = Count(received);
        await host.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("spBv1.0/Plant1/NCMD/LineA").WithPayload(Rebirth().ToByteArray()).Build());
        await WaitUntil(() => Snapshot(received).Skip(before).Count(m => m.Type == "DBIRTH") == 2, "the rebirth");
        var rebirth = Snapshot(received).Skip(before).ToList();
        Assert.Equal("NBIRTH", rebirth[0].Type);
        Assert.Equal(0ul, rebirth[0].Payload.Seq);
        Assert.Equal(bdSeq, Named(rebirth[0].Payload, "bdSeq").LongValue);
        Assert.Equal(300ul, Named(rebirth.First(m => m.Device == "cam1").Payload, "Totals/Frames").LongValue);

        // Killed: the broker publishes the Will, an NDEATH with the same bdSeq.
        proxy.Cut();
        await WaitUntil(() => Snapshot(received).Any(m => m.Type == "NDEATH"), "the NDEATH");
        Assert.Equal(bdSeq, Named(Snapshot(received).Last(m => m.Type == "NDEATH").Payload, "bdSeq").LongValue);
        await node.DisposeAsync();

        // Every CONNECT carries the next bdSeq, kept across restarts of the process.
        mqtt.Port = broker.Port;
        await using var again = new SparkplugSink(mqtt, sparkplug);
        await again.StartAsync(CancellationToken.None);
        await WaitUntil(() => Snapshot(received).Count(m => m.Type == "NBIRTH") == 3, "the next birth");
        var next = Named(Snapshot(received).Last(m => m.Type == "NBIRTH").Payload, "bdSeq").LongValue;
        Assert.Equal(again.BirthDeathSequence, next);
        Assert.InRange((next + 256 - bdSeq) % 256, 1ul, 255ul);
        Assert.Equal(next.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(sparkplug.BdSeqFile));
    }

    [Fact]
    public async Task With_a_primary_host_the_node_holds_data_while_its_STATE_is_offline_and_sends_it_as_historical_after_the_birth()
    {
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        var (host, received) = await HostAsync(broker.Port);
        using var _ = host;
        await State(host, online: false, timestamp: 1000);
        var mqtt = new MqttOptions { Host = "127.0.0.1", Port = broker.Port, ClientId = "edge", ReconnectInitialDelay = TimeSpan.FromMilliseconds(100), Queue = new DiskQueueOptions { Directory = _folder.File("q") } };
        await using var node = new SparkplugSink(mqtt, new SparkplugOptions { GroupId = "Plant1", EdgeNodeId = "LineA", BdSeqFile = _folder.File("bdseq"), PrimaryHostId = "scada" });
        await node.StartAsync(CancellationToken.None);
        var held = WriteAsync(node, SinkItem.ForStatus(new SourceStatus("cam1", SourceState.Streaming, null, DateTimeOffset.UtcNow)), 1, 20);
        await Task.Delay(1000);
        Assert.Empty(Snapshot(received)); // the primary host is offline: no birth, no data; the writer waits
        Assert.False(held.IsCompleted);

        await State(host, online: true, timestamp: 2000);
        await held.WaitAsync(TimeSpan.FromSeconds(15));
        await node.WriteAsync(SinkItem.ForResult(PublisherTests.Result("cam1", 21)), default);
        await WaitUntil(() => Snapshot(received).Count(m => m.Type == "DDATA") == 20, "the held frames and the live one");
        var first = Snapshot(received);
        Assert.Equal("NBIRTH", first[0].Type);
        var names = first.Last(m => m.Type == "DBIRTH").Payload.Metrics.ToDictionary(m => m.Alias, m => m.Name);
        var data = first.Where(m => m.Type == "DDATA").ToList();
        Assert.Equal(Enumerable.Range(2, 20).Select(i => (ulong)i), data.Select(m => Metric(m.Payload, names, "Inspection/Sequence").LongValue));
        Assert.All(data.SkipLast(1).SelectMany(m => m.Payload.Metrics), m => Assert.True(m.IsHistorical)); // held from before the birth
        Assert.All(data[^1].Payload.Metrics, m => Assert.False(m.IsHistorical));

        await State(host, online: true, timestamp: 1500); // stale: older than the last STATE seen
        await State(host, online: false, timestamp: 3000);
        await WaitUntil(() => Snapshot(received).Any(m => m.Type == "NDEATH"), "the NDEATH when the host goes offline");
        var quiet = Count(received);
        held = WriteAsync(node, null, 22, 40);
        await Task.Delay(1000);
        Assert.Equal(quiet, Count(received)); // nothing while the host is offline

        await State(host, online: true, timestamp: 4000);
        await held.WaitAsync(TimeSpan.FromSeconds(15));
        await WaitUntil(() => Snapshot(received).Skip(quiet).Count(m => m.Type == "DDATA") == 19, "the frames held while the host was offline");
        var again = Snapshot(received).Skip(quiet).ToList();
        Assert.Equal("NBIRTH", again[0].Type);
        Assert.Equal(21ul, Named(again.First(m => m.Type == "DBIRTH").Payload, "Totals/Frames").LongValue);
        names = again.First(m => m.Type == "DBIRTH").Payload.Metrics.ToDictionary(m => m.Alias, m => m.Name);
        Assert.Equal(40ul, Metric(again.Last(m => m.Type == "DDATA").Payload, names, "Totals/Frames").LongValue);
    }

    /// <summary>Frames captured now, written in the background: the writer waits while the node cannot publish.</summary>
    private static Task WriteAsync(SparkplugSink node, SinkItem? first, int from, int to)
    {
        var results = Enumerable.Range(from, to - from + 1).Select(i => SinkItem.ForResult(PublisherTests.Result("cam1", i))).ToList();
        return Task.Run(async () =>
        {
            if (first is { } item)
            {
                await node.WriteAsync(item, default);
            }

            foreach (var result in results)
            {
                await node.WriteAsync(result, default);
            }
        });
    }

    private static async Task<(IMqttClient Host, List<Message> Received)> HostAsync(int port)
    {
        var received = new List<Message>();
        var host = new MqttClientFactory().CreateMqttClient();
        host.ApplicationMessageReceivedAsync += e =>
        {
            var parts = e.ApplicationMessage.Topic.Split('/'); // spBv1.0/group/TYPE/node[/device]
            if (parts[1] == "STATE" || parts[2] is "NCMD" or "DCMD")
            {
                return Task.CompletedTask; // the host's own messages
            }

            lock (received)
            {
                received.Add(new Message(parts[2], parts.Length > 4 ? parts[4] : null, Payload.Parser.ParseFrom(e.ApplicationMessage.Payload)));
            }

            return Task.CompletedTask;
        };
        await host.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("scada-host").Build());
        await host.SubscribeAsync("spBv1.0/Plant1/#", MqttQualityOfServiceLevel.AtLeastOnce);
        return (host, received);
    }

    private static Task State(IMqttClient host, bool online, long timestamp) => host.PublishAsync(new MqttApplicationMessageBuilder()
        .WithTopic("spBv1.0/STATE/scada").WithRetainFlag().WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithPayload(Encoding.UTF8.GetBytes($"{{\"online\":{(online ? "true" : "false")},\"timestamp\":{timestamp}}}")).Build());

    private static Payload Rebirth()
    {
        var rebirth = new Payload { Timestamp = 1 };
        rebirth.Metrics.Add(new Payload.Types.Metric { Name = SparkplugSink.RebirthMetric, Datatype = (uint)DataType.Boolean, BooleanValue = true });
        return rebirth;
    }

    private static Payload Command(string name, double value)
    {
        var command = new Payload { Timestamp = 1 };
        command.Metrics.Add(new Payload.Types.Metric { Name = name, Datatype = (uint)DataType.Double, DoubleValue = value });
        return command;
    }

    private static Payload.Types.Metric Named(Payload payload, string name) => payload.Metrics.Single(m => m.Name == name);

    private static Payload.Types.Metric Metric(Payload payload, Dictionary<ulong, string> names, string name) => payload.Metrics.Single(m => names[m.Alias] == name);

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

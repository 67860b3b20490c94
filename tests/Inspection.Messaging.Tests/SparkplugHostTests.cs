using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Inspection.Messaging.Sparkplug;
using Inspection.Messaging.Sparkplug.Protobuf;
using Inspection.TestSupport;
using MQTTnet;
using MQTTnet.Protocol;
using Metric = Inspection.Messaging.Sparkplug.Protobuf.Payload.Types.Metric;

namespace Inspection.Messaging.Tests;

/// <summary>
/// The test-side Sparkplug host, which decodes with protoc and Tahu's field numbers instead of the project's generated
/// code: checked here against that generated code, so the two only agree if both read the wire format right.
/// </summary>
[Collection(nameof(PublisherTests))]
public sealed class SparkplugHostTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void SparkplugHost_decodes_every_value_the_generated_code_writes()
    {
        var payload = new Payload { Timestamp = 1_700_000_000_123, Seq = 255 };
        payload.Metrics.Add(new Metric { Name = "Inspection/Offset", Alias = 1, Timestamp = 1_700_000_000_001, Datatype = (uint)DataType.Int32, IntValue = unchecked((uint)-5) });
        payload.Metrics.Add(new Metric { Name = "Inspection/Frames", Alias = 2, Datatype = (uint)DataType.UInt64, LongValue = ulong.MaxValue });
        payload.Metrics.Add(new Metric { Name = "Model/Score", Alias = 3, Datatype = (uint)DataType.Double, DoubleValue = 0.1 });
        payload.Metrics.Add(new Metric { Name = "Node Control/Rebirth", Alias = 4, Datatype = (uint)DataType.Boolean, BooleanValue = true });
        payload.Metrics.Add(new Metric { Name = "Node Control/Reboot", Alias = 5, Datatype = (uint)DataType.Boolean, BooleanValue = false });
        payload.Metrics.Add(new Metric { Name = "Model/Version", Alias = 6, Datatype = (uint)DataType.String, StringValue = "é \"v1\"\n\\\t'ß" });
        payload.Metrics.Add(new Metric { Name = "Inspection/LastDefect", Alias = 7, Datatype = (uint)DataType.String, IsNull = true });

        // Text that is also a valid protobuf message, which protoc prints as a nested block: "cd" as an empty group
        // 12, "01" as { 6: 49 }, "c(Hd" as a group holding { 5: 72 } (or, read as length-delimited, "b\x02(H").
        payload.Metrics.Add(new Metric { Name = "cd", Alias = 8, Datatype = (uint)DataType.String, StringValue = "01" });
        payload.Metrics.Add(new Metric { Name = "c(Hd", Alias = 9, Datatype = (uint)DataType.String, StringValue = string.Empty });
        payload.Metrics.Add(new Metric { Alias = 3, DoubleValue = -2.5e-300 }); // as in DDATA: the alias only

        var decoded = SparkplugHost.Decode(payload.ToByteArray());

        Assert.Equal(1_700_000_000_123ul, decoded.Timestamp);
        Assert.Equal(255ul, decoded.Seq);
        Assert.Equal(payload.Metrics.Count, decoded.Metrics.Count);
        for (var i = 0; i < payload.Metrics.Count; i++)
        {
            var (expected, actual) = (payload.Metrics[i], decoded.Metrics[i]);
            Assert.Equal(expected.HasName ? expected.Name : null, actual.Name);
            Assert.Equal((ulong?)expected.Alias, actual.Alias);
            Assert.Equal(expected.HasTimestamp ? expected.Timestamp : (ulong?)null, actual.Timestamp);
            Assert.Equal(expected.HasDatatype ? expected.Datatype : (uint?)null, actual.Datatype);
            Assert.Equal(expected.IsNull, actual.IsNull);
            var value = expected.ValueCase;
            Assert.Equal(value switch { Metric.ValueOneofCase.IntValue => expected.IntValue, Metric.ValueOneofCase.LongValue => expected.LongValue, _ => (ulong?)null }, actual.IntOrLong);
            Assert.Equal(value == Metric.ValueOneofCase.DoubleValue ? expected.DoubleValue : (double?)null, actual.Double);
            Assert.Equal(value == Metric.ValueOneofCase.BooleanValue ? expected.BooleanValue : (bool?)null, actual.Boolean);
            Assert.Equal(value == Metric.ValueOneofCase.StringValue ? expected.StringValue : null, actual.String);
        }

        Assert.Equal(-5, (int)(uint)decoded.Metrics[0].IntOrLong!.Value);
        Assert.Null(decoded.Metrics[6].String);
        Assert.Empty(SparkplugHost.Decode([]).Metrics);
        Assert.Throws<FormatException>(() => SparkplugHost.Decode([0x12, 0x05, 0x0a])); // a metric cut short
    }

    [Fact]
    public void SparkplugHost_rebirth_command_parses_with_the_generated_code()
    {
        var command = Payload.Parser.ParseFrom(SparkplugHost.EncodeNodeCommand(SparkplugSink.RebirthMetric, true, 1_700_000_000_000));

        Assert.Equal(1_700_000_000_000ul, command.Timestamp);
        Assert.False(command.HasSeq);
        var metric = Assert.Single(command.Metrics);
        Assert.Equal(SparkplugSink.RebirthMetric, metric.Name);
        Assert.Equal(1_700_000_000_000ul, metric.Timestamp);
        Assert.Equal((uint)DataType.Boolean, metric.Datatype);
        Assert.Equal(Metric.ValueOneofCase.BooleanValue, metric.ValueCase);
        Assert.True(metric.BooleanValue);
        Assert.False(Payload.Parser.ParseFrom(SparkplugHost.EncodeNodeCommand("x", false, 1)).Metrics[0].BooleanValue);
    }

    [Fact]
    public async Task SparkplugHost_records_births_and_data_by_alias_and_sends_STATE_and_rebirth_through_mosquitto()
    {
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        var host = await SparkplugHost.StartAsync(broker.Port, "Plant1");
        await using var edge = await RawClient.StartAsync(broker.Port, "edge", "spBv1.0/STATE/#", "spBv1.0/Plant1/NCMD/#");
        try
        {
            // The node's aliases and the device's overlap on purpose: alias 1 means bdSeq on one, Frames on the other.
            await edge.PublishAsync("spBv1.0/Plant1/NBIRTH/LineA", Births(0, ("bdSeq", 1, DataType.UInt64), (SparkplugSink.RebirthMetric, 2, DataType.Boolean)));
            await edge.PublishAsync("spBv1.0/Plant1/DBIRTH/LineA/cam1", Births(1, ("Inspection/Frames", 1, DataType.UInt64), ("Model/Version", 2, DataType.String)));
            var data = new Payload { Timestamp = 3, Seq = 2 };
            data.Metrics.Add(new Metric { Alias = 1, LongValue = 42 });
            data.Metrics.Add(new Metric { Alias = 2, StringValue = "v2" });
            await edge.PublishAsync("spBv1.0/Plant1/DDATA/LineA/cam1", data);

            var ddata = await host.WaitForAsync(m => m.Type == "DDATA", Timeout, "the DDATA");
            Assert.Equal(["NBIRTH", "DBIRTH", "DDATA"], host.Messages.Select(m => m.Type));
            Assert.Equal([0L, 1, 2], host.Messages.Select(m => m.Order));
            Assert.Equal(new string?[] { null, "cam1", "cam1" }, host.Messages.Select(m => m.Device));
            Assert.All(host.Messages, m => Assert.Equal(("LineA", false, MqttQualityOfServiceLevel.AtMostOnce), (m.EdgeNode, m.Retain, m.QoS)));
            Assert.Equal(["Inspection/Frames", "Model/Version"], ddata.Payload.Metrics.Select(ddata.NameOf));
            Assert.Equal(42ul, ddata.Metric("Inspection/Frames")!.IntOrLong);
            Assert.Equal("v2", ddata.Metric("Model/Version")!.String);
            Assert.Equal(2ul, ddata.Payload.Seq);
            Assert.Equal("bdSeq", host.Messages[0].NameOf(host.Messages[0].Payload.Metrics[0]));

            // A new NBIRTH voids the device's aliases until its DBIRTH, as a host must treat them.
            await edge.PublishAsync("spBv1.0/Plant1/NBIRTH/LineA", Births(0, ("bdSeq", 1, DataType.UInt64)));
            await edge.PublishAsync("spBv1.0/Plant1/DDATA/LineA/cam1", data);
            var orphan = await host.WaitForAsync(m => m.Type == "DDATA" && m.Order > ddata.Order, Timeout, "the DDATA after the rebirth");
            Assert.Throws<InvalidOperationException>(() => orphan.NameOf(orphan.Payload.Metrics[0]));

            // STATE: online, retained, with the timestamp of the Will that the clean disconnect replaces.
            await host.PublishStateAsync(true);
            var online = State(await edge.WaitForAsync("spBv1.0/STATE/test-host", Timeout));
            Assert.True(online.Online);
            Assert.InRange(online.Timestamp, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await using (var late = await RawClient.StartAsync(broker.Port, "late", "spBv1.0/STATE/#"))
            {
                var retained = await late.WaitForAsync("spBv1.0/STATE/test-host", Timeout);
                Assert.True(retained.Retain);
                Assert.Equal(online, State(retained));
            }

            // NCMD: the edge node gets a payload the generated code reads; the host records its own command too.
            await host.RebirthAsync("LineA");
            var ncmd = await edge.WaitForAsync("spBv1.0/Plant1/NCMD/LineA", Timeout);
            var rebirth = Assert.Single(Payload.Parser.ParseFrom(ncmd.Payload).Metrics);
            Assert.Equal((SparkplugSink.RebirthMetric, (uint)DataType.Boolean, true), (rebirth.Name, rebirth.Datatype, rebirth.BooleanValue));
            var own = await host.WaitForAsync(m => m.Type == "NCMD", Timeout, "the host's own NCMD");
            Assert.Equal(true, own.Metric(SparkplugSink.RebirthMetric)!.Boolean);
            Assert.Equal(ncmd.Payload, own.Bytes);

            await host.DisposeAsync();
            var offline = State(await edge.WaitForAsync("spBv1.0/STATE/test-host", Timeout, after: 1));
            Assert.Equal((false, online.Timestamp), (offline.Online, offline.Timestamp));
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [Fact]
    public async Task SparkplugHost_has_a_STATE_Will_and_comes_back_online_after_a_broker_restart()
    {
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        await using var watcher = await RawClient.StartAsync(broker.Port, "watcher", "spBv1.0/STATE/#");

        // Cut off: the broker publishes the Will, offline with the timestamp of the session's online STATE.
        using (var proxy = new TcpProxy(broker.Port))
        {
            await using var dropped = await SparkplugHost.StartAsync(proxy.Port, "Plant1", "dropped-host");
            await dropped.PublishStateAsync(true);
            var online = State(await watcher.WaitForAsync("spBv1.0/STATE/dropped-host", Timeout));
            proxy.Cut();
            var will = State(await watcher.WaitForAsync("spBv1.0/STATE/dropped-host", Timeout, after: 1));
            Assert.Equal((true, false, online.Timestamp), (online.Online, will.Online, will.Timestamp));
        }

        // Restarted broker: the host reconnects, announces itself again and records what follows.
        await using var host = await SparkplugHost.StartAsync(broker.Port, "Plant1");
        await host.PublishStateAsync(true);
        var first = State(await watcher.WaitForAsync("spBv1.0/STATE/test-host", Timeout));
        broker.Stop();
        await Task.Delay(50);
        broker.Start();
        await using var after = await RawClient.StartAsync(broker.Port, "after", "spBv1.0/STATE/test-host");
        var again = State(await after.WaitForAsync("spBv1.0/STATE/test-host", Timeout, match: r => State(r).Timestamp > first.Timestamp));
        Assert.True(again.Online);

        await after.PublishAsync("spBv1.0/Plant1/NDEATH/LineA", Births(0, ("bdSeq", 1, DataType.UInt64)));
        var death = await host.WaitForAsync(m => m.Type == "NDEATH", Timeout, "the NDEATH after the restart");
        Assert.Equal("bdSeq", death.NameOf(death.Payload.Metrics[0]));
    }

    private static Payload Births(ulong seq, params (string Name, ulong Alias, DataType Type)[] metrics)
    {
        var payload = new Payload { Timestamp = 1, Seq = seq };
        foreach (var (name, alias, type) in metrics)
        {
            var metric = new Metric { Name = name, Alias = alias, Datatype = (uint)type };
            switch (type)
            {
                case DataType.UInt64: metric.LongValue = 0; break;
                case DataType.Boolean: metric.BooleanValue = false; break;
                default: metric.StringValue = "v1"; break;
            }

            payload.Metrics.Add(metric);
        }

        return payload;
    }

    private sealed record StateContent(bool Online, long Timestamp);

    private static StateContent State(RawClient.Message message)
    {
        using var json = JsonDocument.Parse(message.Payload);
        return new StateContent(json.RootElement.GetProperty("online").GetBoolean(), json.RootElement.GetProperty("timestamp").GetInt64());
    }

    /// <summary>A plain MQTTnet client that keeps payloads as bytes (the protobuf ones are not text), standing in for an edge node.</summary>
    private sealed class RawClient : IAsyncDisposable
    {
        private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
        private readonly List<Message> _messages = [];

        public sealed record Message(string Topic, byte[] Payload, bool Retain);

        public static async Task<RawClient> StartAsync(int port, string clientId, params string[] filters)
        {
            var client = new RawClient();
            client._client.ApplicationMessageReceivedAsync += e =>
            {
                lock (client._messages)
                {
                    client._messages.Add(new Message(e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray(), e.ApplicationMessage.Retain));
                }

                return Task.CompletedTask;
            };
            await client._client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(clientId).Build());
            foreach (var filter in filters)
            {
                await client._client.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce);
            }

            return client;
        }

        public Task PublishAsync(string topic, Payload payload) =>
            _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload.ToByteArray()).Build());

        /// <summary>The message on <paramref name="topic"/> that comes after <paramref name="after"/> others on it and matches.</summary>
        public async Task<Message> WaitForAsync(string topic, TimeSpan timeout, int after = 0, Func<Message, bool>? match = null)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                lock (_messages)
                {
                    if (_messages.Where(m => m.Topic == topic).Skip(after).FirstOrDefault(m => match?.Invoke(m) ?? true) is { } found)
                    {
                        return found;
                    }

                    Assert.True(DateTime.UtcNow < deadline, $"nothing on {topic} within {timeout}: {string.Join(", ", _messages.Select(m => m.Topic + " " + Encoding.UTF8.GetString(m.Payload)))}");
                }

                await Task.Delay(20);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_client.IsConnected)
            {
                await _client.DisconnectAsync();
            }

            _client.Dispose();
        }
    }
}

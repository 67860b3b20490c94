using System.Buffers;
using System.Diagnostics;
using Inspection.Core;
using Inspection.Messaging;
using Inspection.Messaging.Sparkplug;
using Inspection.Worker.Observability;
using Inspection.Worker.Output;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace Inspection.Bench;

/// <summary>
/// What the Sparkplug B output costs, in the same run, round by round: (1) the worker end to end on file sources
/// with the JSON output alone and with JSON + Sparkplug, so the ratio is what adding Sparkplug takes from the
/// worker's throughput; (2) <see cref="SparkplugSink"/> taking results through <see cref="IResultSink.WriteAsync"/>
/// against raw MQTTnet publishing the very messages the sink sent (captured by a subscriber in the warm-up), so the
/// ratio is what the sink adds per message (device state, protobuf encoding, its gate and publish timeout) over
/// the client itself.
/// </summary>
/// <remarks>
/// Sparkplug goes to a real mosquitto on 127.0.0.1 started by the benchmark, not to the worker's embedded broker: a
/// SCADA host's broker is another program (often another machine), so the broker's per-message work is not the
/// worker's; on the embedded broker it would be charged to the worker's process and share the JSON results'
/// broker. The same mosquitto serves part 2, where a raw client needs a broker that is not ours either.
/// </remarks>
internal static class SinkBenchmark
{
    private const string Group = "bench";
    private const string Node = "sink";

    public static async Task RunAsync(BenchOptions options)
    {
        var rounds = options.GetInt("rounds", 3);
        var count = options.GetInt("messages", 100_000);
        var worker = WorkerRun.From(options);
        var folder = Directory.CreateTempSubdirectory("inspection-bench-sinks").FullName;
        using var broker = Mosquitto.Start(folder);
        string[] sparkplug =
        [
            "--Inspection:Sparkplug:Enabled=true",
            $"--Inspection:Sparkplug:GroupId={Group}",
            "--Inspection:Sparkplug:EdgeNodeId=worker",
            "--Inspection:Sparkplug:Host=127.0.0.1",
            $"--Inspection:Sparkplug:Port={broker.Port}",
            $"--Inspection:Sparkplug:BdSeqFile={Path.Combine(folder, "bdseq-worker")}",
        ];
        Measure.Progress($"mosquitto on 127.0.0.1:{broker.Port}; worker: {worker}; Sparkplug: {count} results; {rounds} rounds");

        Measure.Progress("warm-up (not counted): the worker with both outputs, the sink with a subscriber capturing what it sends, raw MQTTnet");
        await worker.ThroughputAsync(sparkplug);
        var messages = await CaptureAsync(broker.Port, count, folder);
        await RawAsync(broker.Port, messages);
        Measure.Progress($"captured {messages.Length} DBIRTH/DDATA messages of {messages.Average(m => m.Payload.Length):0} bytes on average");

        var jsonOnly = new List<double>();
        var both = new List<double>();
        var raw = new List<double>();
        var ours = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            var sent = (Messages: 0L, Dropped: 0.0);
            var (json, withSparkplug) = await Measure.PairAsync(round,
                () => worker.ThroughputAsync(),
                () => worker.ThroughputAsync(sparkplug, services => sent = SparkplugSent(services)));
            jsonOnly.Add(json);
            both.Add(withSparkplug);
            Measure.Progress($"round {round}/{rounds}, worker: JSON only {json:0} images/s, JSON + Sparkplug {withSparkplug:0} (ratio {withSparkplug / json:0.00}); " +
                $"Sparkplug had sent {sent.Messages} messages when the last of {worker.Results} results was handed over, {sent.Dropped:0} items dropped");

            var (rawRate, ourRate) = await Measure.PairAsync(round,
                () => RawAsync(broker.Port, messages),
                async () => (await OursAsync(broker.Port, count, folder)).Rate);
            raw.Add(rawRate);
            ours.Add(ourRate);
            Measure.Progress($"round {round}/{rounds}, Sparkplug: raw MQTTnet {rawRate:0} msg/s, SparkplugSink {ourRate:0} msg/s (ratio {ourRate / rawRate:0.00})");
        }

        Console.WriteLine($"Machine: {Measure.Machine()}; mosquitto 2.0 on 127.0.0.1 for Sparkplug, MQTT 5.");
        Console.WriteLine();
        Console.WriteLine($"Worker, {worker.Sources} file sources x {worker.Frames} frames, decode to the last result handed to the outputs (JSON: the embedded broker; Sparkplug: mosquitto):");
        Console.WriteLine();
        Measure.PairedTable(("JSON only (images/s)", jsonOnly), ("JSON + Sparkplug (images/s)", both), "JSON + Sparkplug / JSON only (target ≥ 0.95)");
        Console.WriteLine();
        Console.WriteLine($"Sparkplug, {messages.Length} messages (DBIRTH, DDATA) at QoS 0 to mosquitto, until the last is handed to the MQTT client, {messages.Average(m => m.Payload.Length):0} bytes on average:");
        Console.WriteLine();
        Measure.PairedTable(("raw MQTTnet, same messages (msg/s)", raw), ("SparkplugSink.WriteAsync (msg/s)", ours), "SparkplugSink / raw (target ≥ 0.8)");
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>
    /// What the worker's Sparkplug output had done when the clock stopped: messages handed to its client (NBIRTH,
    /// DBIRTHs, DDATA) and items its buffer dropped. A ratio near 1 means little if Sparkplug fell behind or dropped.
    /// </summary>
    private static (long Messages, double Dropped) SparkplugSent(IServiceProvider services)
    {
        var sink = services.GetRequiredService<SinkFanOut>().Sinks.OfType<SparkplugSink>().Single();
        var dropped = services.GetRequiredService<WorkerMetrics>().SinkItems.WithLabels(sink.Name, "dropped").Value;
        return (sink.Published, dropped);
    }

    /// <summary>
    /// One <see cref="SparkplugSink"/> session on a fresh edge node: a Streaming status for each camera, then
    /// <paramref name="count"/> results, each written through <see cref="IResultSink.WriteAsync"/> as the worker's
    /// writer does; messages per second from the first write until <see cref="SparkplugSink.Published"/> counts every
    /// message they call for (a DBIRTH per status, one DBIRTH or DDATA per result), that is until the last is
    /// handed to the MQTT client (at QoS 0, written to its connection). The results are made once the node is born,
    /// before the clock starts, so none is older than the birth (which would make it historical data).
    /// </summary>
    private static async Task<(double Rate, int Messages)> OursAsync(int port, int count, string folder)
    {
        var mqtt = new MqttOptions { Host = "127.0.0.1", Port = port, ClientId = "bench" };
        var options = new SparkplugOptions { GroupId = Group, EdgeNodeId = Node, BdSeqFile = Path.Combine(folder, "bdseq-sink") };
        await using var sink = new SparkplugSink(mqtt, options);
        await sink.StartAsync(CancellationToken.None);
        var waiting = Stopwatch.StartNew();
        while (!sink.IsLive)
        {
            if (waiting.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"the Sparkplug sink was not born within 30 s on 127.0.0.1:{port}");
            }

            await Task.Delay(10);
        }

        var results = Enumerable.Range(1, count).Select(i => MqttBenchmark.Result(i)).ToArray();
        var statuses = results.Select(r => r.CameraId).Distinct().Select(c => SinkItem.ForStatus(new SourceStatus(c, SourceState.Streaming, null, DateTimeOffset.UtcNow))).ToArray();
        var messages = statuses.Length + results.Length;
        var expected = sink.Published + messages;
        var clock = Stopwatch.StartNew();
        foreach (var status in statuses)
        {
            await sink.WriteAsync(status, CancellationToken.None);
        }

        foreach (var result in results)
        {
            await sink.WriteAsync(SinkItem.ForResult(result), CancellationToken.None);
        }

        while (sink.Published < expected)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new InvalidOperationException($"the Sparkplug sink published {sink.Published - expected + messages} of {messages} messages within 2 minutes");
            }

            await Task.Delay(1);
        }

        return (messages / clock.Elapsed.TotalSeconds, messages);
    }

    /// <summary>
    /// The sink's session of <see cref="OursAsync"/> with a subscriber to the node's DBIRTH and DDATA: the topics and
    /// payloads exactly as the sink sends them, in order, for the raw client to send again.
    /// </summary>
    private static async Task<(string Topic, byte[] Payload)[]> CaptureAsync(int port, int count, string folder)
    {
        var captured = new List<(string Topic, byte[] Payload)>();
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            lock (captured)
            {
                captured.Add((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray()));
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(Client(port, "bench-capture"));
        await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter($"{SparkplugSink.Namespace}/{Group}/DBIRTH/{Node}/+")
            .WithTopicFilter($"{SparkplugSink.Namespace}/{Group}/DDATA/{Node}/+")
            .Build());
        var (_, messages) = await OursAsync(port, count, folder);
        var quiet = Stopwatch.StartNew();
        var seen = 0;
        while (quiet.Elapsed < TimeSpan.FromSeconds(5))
        {
            lock (captured)
            {
                if (captured.Count >= messages)
                {
                    break;
                }

                if (captured.Count > seen)
                {
                    (seen, quiet) = (captured.Count, Stopwatch.StartNew());
                }
            }

            await Task.Delay(10);
        }

        await subscriber.DisconnectAsync();
        lock (captured)
        {
            if (captured.Count < messages)
            {
                Measure.Progress($"warning: the subscriber received {captured.Count} of the sink's {messages} messages (QoS 0); the raw client sends those");
            }

            return [.. captured];
        }
    }

    /// <summary>
    /// Raw MQTTnet: the captured messages at QoS 0, each publish awaited before the next, as the sink's single
    /// writer does (Sparkplug's seq orders a node's messages); messages per second until the last is handed to the
    /// client. Then, off the clock, a ping: its answer comes once mosquitto has read everything before it, so the
    /// next measurement does not share the cores with a broker still reading this one's messages (the sink's
    /// NDEATH at QoS 1, when it is disposed, does the same for the sink).
    /// </summary>
    private static async Task<double> RawAsync(int port, (string Topic, byte[] Payload)[] messages)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Client(port, "bench-raw"));
        var clock = Stopwatch.StartNew();
        foreach (var (topic, payload) in messages)
        {
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce).Build());
        }

        var rate = messages.Length / clock.Elapsed.TotalSeconds;
        await client.PingAsync();
        await client.DisconnectAsync();
        return rate;
    }

    /// <summary>A client as the sink's own session is set up: MQTT 5, the same keep-alive.</summary>
    private static MqttClientOptions Client(int port, string clientId) =>
        new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(clientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithKeepAlivePeriod(new MqttOptions().KeepAlive).Build();
}

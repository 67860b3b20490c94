using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Inspection.Core;
using Inspection.Messaging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Inspection.Bench;

/// <summary>
/// Results per second at QoS 1 through the JSON sink and MqttSession (JSON, the on-disk queue, a window of 256 unacknowledged)
/// against raw MQTTnet publishing the same payloads with the same window to the same mosquitto, in the same run; the same
/// path with the queue's <see cref="QueueDurability.Fsync"/> (a disk flush per append) right after the default, paired;
/// and the publish latency (publish call to delivery at a subscriber) at a steady live rate.
/// </summary>
internal static class MqttBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var rounds = options.GetInt("rounds", 3);
        var count = options.GetInt("messages", 20_000);
        var folder = Directory.CreateTempSubdirectory("inspection-bench-mqtt").FullName;
        using var broker = Mosquitto.Start(folder);
        Measure.Progress($"mosquitto on 127.0.0.1:{broker.Port}; {count} results per measurement, {rounds} rounds");

        var results = Enumerable.Range(1, count).Select(i => Result(i)).ToArray();
        var payloads = results.Select(r =>
        {
            var buffer = new ArrayBufferWriter<byte>();
            ResultJson.WriteResult(buffer, r, DateTimeOffset.UtcNow);
            return buffer.WrittenSpan.ToArray();
        }).ToArray();

        Measure.Progress("warm-up round (not counted)");
        await RawAsync(broker.Port, payloads);
        await OursAsync(broker.Port, results, Path.Combine(folder, "warm-up"), QueueDurability.Kernel);
        await OursAsync(broker.Port, results, Path.Combine(folder, "warm-up-fsync"), QueueDurability.Fsync);

        var raw = new List<double>();
        var ours = new List<double>();
        var ratios = new List<double>();
        var fsync = new List<double>();
        var fsyncRatios = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            var rawRate = await RawAsync(broker.Port, payloads);
            var ourRate = await OursAsync(broker.Port, results, Path.Combine(folder, $"queue{round}"), QueueDurability.Kernel);
            var fsyncRate = await OursAsync(broker.Port, results, Path.Combine(folder, $"queue{round}-fsync"), QueueDurability.Fsync);
            raw.Add(rawRate);
            ours.Add(ourRate);
            ratios.Add(ourRate / rawRate);
            fsync.Add(fsyncRate);
            fsyncRatios.Add(fsyncRate / ourRate);
            Measure.Progress($"round {round}/{rounds}: raw MQTTnet {rawRate:0} msg/s, JSON sink {ourRate:0} results/s (ratio {ourRate / rawRate:0.00}), with Fsync {fsyncRate:0} results/s ({fsyncRate / ourRate:0.000} of Kernel)");
        }

        var latencies = await LatencyAsync(broker.Port, Path.Combine(folder, "latency"), rate: 200, seconds: 10);
        Console.WriteLine($"Machine: {Measure.Machine()}; queue on {new DriveInfo(folder).DriveFormat}; mosquitto 2.0 on 127.0.0.1, QoS 1, MQTT 5, {payloads.Average(p => p.Length):0}-byte JSON results; medians of {rounds} rounds of {count} results.");
        Console.WriteLine();
        Console.WriteLine("| path | results/s |");
        Console.WriteLine("|---|---|");
        Console.WriteLine($"| raw MQTTnet, same payloads, 256 in flight | {Measure.Median(raw):0} |");
        Console.WriteLine($"| JSON sink + MqttSession (JSON + on-disk queue + 256 in flight), `Queue:Durability` Kernel | {Measure.Median(ours):0} |");
        Console.WriteLine($"| ratio | {Measure.Median(ratios):0.00} |");
        Console.WriteLine($"| the same with `Queue:Durability` Fsync (a disk flush per append) | {Measure.Median(fsync):0} |");
        Console.WriteLine($"| Fsync / Kernel, paired | {Measure.Median(fsyncRatios):0.000} |");
        Console.WriteLine();
        Console.WriteLine($"Publish latency at a live 200 results/s for 10 s (WriteResultAsync to delivery at an MQTTnet subscriber): p50 {Percentile(latencies, 0.5):0.0} ms, p99 {Percentile(latencies, 0.99):0.0} ms, max {latencies.Max():0.0} ms.");
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>A typical result: one camera of four, every tenth NG with one detection.</summary>
    internal static InspectionResult Result(long sequence) => new()
    {
        CameraId = "cam" + (sequence % 4),
        Sequence = sequence,
        CaptureTime = DateTimeOffset.UtcNow,
        ModelName = "workpiece-crack",
        ModelVersion = "3f2a9c01b7de",
        Verdict = sequence % 10 == 0 ? Verdict.Ng : Verdict.Ok,
        Detections = sequence % 10 == 0 ? [new Detection(0, 0.91f, new BoundingBox(120.5f, 88.2f, 180.1f, 140.7f))] : [],
        ClassNames = ["crack"],
        InferenceLatency = TimeSpan.FromMilliseconds(31.4),
        Width = 320,
        Height = 320,
    };

    private static async Task<double> RawAsync(int port, byte[][] payloads)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bench-raw").WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build());
        var window = new Queue<Task<MqttClientPublishResult>>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < payloads.Length; i++)
        {
            if (window.Count == 256)
            {
                await window.Dequeue();
            }

            window.Enqueue(client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"bench/raw/cam{i % 4}/result").WithPayload(payloads[i])
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()));
        }

        while (window.Count > 0)
        {
            await window.Dequeue();
        }

        var rate = payloads.Length / clock.Elapsed.TotalSeconds;
        await client.DisconnectAsync();
        return rate;
    }

    private static async Task<double> OursAsync(int port, InspectionResult[] results, string queue, QueueDurability durability)
    {
        var options = new MqttOptions { Host = "127.0.0.1", Port = port, ClientId = "bench-ours", Site = "bench", Line = "ours", Queue = new DiskQueueOptions { Directory = queue, Durability = durability } };
        await using var publisher = new MqttSession(options);
        var sink = new JsonResultSink(publisher);
        publisher.Start();
        while (!publisher.IsConnected)
        {
            await Task.Delay(10);
        }

        var clock = Stopwatch.StartNew();
        foreach (var result in results)
        {
            await sink.WriteResultAsync(result);
        }

        if (!await publisher.FlushAsync(TimeSpan.FromMinutes(2)))
        {
            throw new InvalidOperationException($"the MQTT session did not flush: {publisher.LastError}");
        }

        return results.Length / clock.Elapsed.TotalSeconds;
    }

    private static async Task<List<double>> LatencyAsync(int port, string queue, int rate, int seconds)
    {
        var sent = new Dictionary<long, long>();
        var latencies = new List<double>();
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            var now = Stopwatch.GetTimestamp();
            using var json = JsonDocument.Parse(e.ApplicationMessage.Payload);
            var sequence = json.RootElement.GetProperty("sequence").GetInt64();
            lock (sent)
            {
                if (sent.TryGetValue(sequence, out var start))
                {
                    latencies.Add(Stopwatch.GetElapsedTime(start, now).TotalMilliseconds);
                }
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bench-latency-sub").Build());
        await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("inspection/bench/latency/+/result", MqttQualityOfServiceLevel.AtLeastOnce).Build());

        var options = new MqttOptions { Host = "127.0.0.1", Port = port, ClientId = "bench-latency", Site = "bench", Line = "latency", Queue = new DiskQueueOptions { Directory = queue } };
        await using var publisher = new MqttSession(options);
        var sink = new JsonResultSink(publisher);
        publisher.Start();
        while (!publisher.IsConnected)
        {
            await Task.Delay(10);
        }

        var interval = Stopwatch.Frequency / rate;
        var begin = Stopwatch.GetTimestamp();
        for (long i = 1; i <= (long)rate * seconds; i++)
        {
            while (Stopwatch.GetTimestamp() < begin + (i * interval))
            {
                await Task.Delay(1);
            }

            lock (sent)
            {
                sent[i] = Stopwatch.GetTimestamp();
            }

            await sink.WriteResultAsync(Result(i) with { Verdict = Verdict.Ok, Detections = [] });
        }

        await publisher.FlushAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        await subscriber.DisconnectAsync();
        return latencies;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}

using System.Globalization;
using System.Text.Json;
using Inspection.Worker.Observability;
using Inspection.Worker.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;

namespace Inspection.Bench;

/// <summary>
/// Fresh verdicts under load: the worker's capture-to-publish latency with live sources offering 50%, 80%, 95% and
/// 120% of the detector's capacity, measured in the same run (the engine alone on the same decoded frames at the
/// same batch). At every load p99 should stay within the batch wait plus two batch inference times (the batch
/// running when a frame arrives, then its own), and at 120% the worker should still inspect at capacity, dropping
/// (and counting) what it cannot inspect while it is fresh.
/// </summary>
internal static class LatencyBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var model = WorkerBenchmark.Model(options);
        var batch = options.GetInt("batch", 8);
        var seconds = options.GetInt("seconds", 20);
        var loads = options.Get("loads", "0.5,0.8,0.95,1.2").Split(',').Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        const int BatchWaitMilliseconds = 10; // the worker's default Batching:MaxWaitMilliseconds
        const double ClipFps = 25; // the benchmark clip, re-encoded from the shared traffic video at 25.25 fps
        var clip = WorkerBenchmark.Clip(options.GetInt("frames", 200));
        var images = WorkerBenchmark.Decode(clip);
        var capacity = await WorkerBenchmark.EngineAloneAsync(model, images, 2, batch);
        Measure.Progress($"capacity: the engine alone inspects {capacity:0} frames/s at batch {batch}; {seconds} s per load");

        Console.WriteLine($"Machine: {Measure.Machine()}; model {Path.GetFileName(model)}, batch {batch}, batch wait {BatchWaitMilliseconds} ms, live sources of a 640x360 clip at 25 fps, each keeping every k-th frame (DropOldest, frames older than 1 s dropped).");
        Console.WriteLine($"Capacity (engine alone, same frames, batch {batch}): {capacity:0} frames/s.");
        Console.WriteLine();
        Console.WriteLine("| load | sources x every k-th frame | offered (frames/s) | inspected (frames/s, share of capacity) | capture to publish p50 / p99 (ms) | bound: wait + 2 batch inferences (ms) | p99 within | dropped as too old (of frames batched) | not inspected (of offered) | the p99 tail's inference (ms, median) | GC pauses (ms/s, gen2 collections) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var load in loads)
        {
            // A source capped at 25/k frames/s keeps every k-th frame of the 25 fps clip (95% of the cap's interval
            // has passed then), so a load is offered by n sources keeping every k-th frame. A video source decodes all
            // 25 frames a second whatever it keeps: the fewest sources within 10% of the target, else the nearest pair.
            var target = load * capacity;
            var pairs = Enumerable.Range(1, 4).Select(every => (Sources: Math.Max(1, (int)Math.Round(target * every / ClipFps)), Every: every)).ToList();
            double Error((int Sources, int Every) pair) => Math.Abs((pair.Sources * ClipFps / pair.Every) - target) / target;
            var (sources, k) = pairs.Where(pair => Error(pair) <= 0.1).OrderBy(pair => pair.Sources).FirstOrDefault(pairs.MinBy(Error));
            var offered = sources * ClipFps / k;
            var run = await RunLoadAsync(model, clip, sources, batch, k == 1 ? 0 : ClipFps / k, seconds);
            var bound = BatchWaitMilliseconds + (2 * run.BatchInferenceMs);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {load:0%} | {sources} x {k} | {offered:0} | {run.InspectedPerSecond:0} ({run.InspectedPerSecond / capacity:0.00}) | {run.P50:0} / {run.P99:0} | {bound:0} | {(run.P99 <= bound ? "yes" : "no")} | {run.StaleShare:0.0%} | {Math.Max(0, 1 - (run.InspectedPerSecond / offered)):0.0%} | {run.TailInferenceMs:0} | {run.GcPauseMsPerSecond:0.0}, {run.Gen2Collections} |"));
        }
    }

    /// <param name="TailInferenceMs">The median batch inference time of the results at or above p99: whether the tail is slow inference or waiting.</param>
    /// <param name="GcPauseMsPerSecond">The garbage collector's pauses over the load, per second.</param>
    private sealed record LoadRun(double InspectedPerSecond, double P50, double P99, double BatchInferenceMs, double StaleShare, double TailInferenceMs, double GcPauseMsPerSecond, int Gen2Collections);

    private static async Task<LoadRun> RunLoadAsync(string model, string clip, int sources, int batch, double fps, int seconds)
    {
        var brokerPort = Measure.FreePort();
        var latencies = new List<(double Latency, double Inference)>();
        var configuration = new List<string> { $"--Inspection:Mqtt:EmbeddedBrokerPort={brokerPort}" };
        configuration.AddRange(Enumerable.Range(0, sources).Select(i => string.Create(CultureInfo.InvariantCulture, $"--Inspection:Cameras:{i}:MaxFps={fps:0.###}")));
        await using var worker = await WorkerBenchmark.RunningWorker.StartAsync(model, clip, sources, batch, realtime: true, configuration);
        using var client = new MqttClientFactory().CreateMqttClient();
        var measuring = false;
        client.ApplicationMessageReceivedAsync += e =>
        {
            using var json = JsonDocument.Parse(e.ApplicationMessage.Payload);
            var latency = (json.RootElement.GetProperty("publishTime").GetDateTimeOffset() - json.RootElement.GetProperty("captureTime").GetDateTimeOffset()).TotalMilliseconds;
            lock (latencies)
            {
                if (measuring)
                {
                    latencies.Add((latency, json.RootElement.GetProperty("inferenceMs").GetDouble()));
                }
            }

            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", brokerPort).WithClientId("bench").Build());
        await client.SubscribeAsync("inspection/+/+/+/result");

        await Task.Delay(TimeSpan.FromSeconds(3)); // cameras start, the model warms: not the line's steady state
        var metrics = worker.Services.GetRequiredService<WorkerMetrics>();
        var feeds = worker.Services.GetRequiredService<CameraFeeds>();
        var before = Snapshot(metrics, feeds);
        var pausedBefore = GC.GetTotalPauseDuration();
        var gen2Before = GC.CollectionCount(2);
        lock (latencies)
        {
            measuring = true;
        }

        Measure.Progress(string.Create(CultureInfo.InvariantCulture, $"{sources} sources at {fps:0.0} fps each for {seconds} s"));
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        var after = Snapshot(metrics, feeds);
        lock (latencies)
        {
            measuring = false;
            var inspected = after.Inspected - before.Inspected;
            var stale = after.Stale - before.Stale;
            var all = latencies.Select(l => l.Latency).ToList();
            var p99 = WorkerBenchmark.Percentile(all, 0.99);
            var tail = latencies.Where(l => l.Latency >= p99).Select(l => l.Inference).ToList();
            return new LoadRun(
                inspected / seconds,
                WorkerBenchmark.Percentile(all, 0.5),
                p99,
                1000 * (after.InferenceSeconds - before.InferenceSeconds) / Math.Max(1, after.Batches - before.Batches),
                stale / Math.Max(1, inspected + stale),
                WorkerBenchmark.Percentile(tail, 0.5),
                (GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds / seconds,
                GC.CollectionCount(2) - gen2Before);
        }
    }

    private readonly record struct Counts(double Inspected, double Stale, double InferenceSeconds, double Batches);

    private static Counts Snapshot(WorkerMetrics metrics, CameraFeeds feeds) => new(
        feeds.Sum(f => metrics.Camera(f.Id).Inspected.Value),
        feeds.Sum(f => (double)f.Stale),
        metrics.Inference.Sum,
        metrics.Inference.Count);
}

using System.Globalization;
using System.Runtime;
using System.Text.Json;
using Inspection.Worker.Observability;
using Inspection.Worker.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;

namespace Inspection.Bench;

/// <summary>
/// Fresh verdicts under load: the worker's capture-to-publish latency with live sources offering 50%, 80%, 95% and
/// 120% of the detector's capacity, measured in the same run (the engine alone on the same decoded frames at the
/// same batch), and against what inference can do beside the decoding each load costs. At every load p99 should stay within the batch wait plus two batch inference times (the batch
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
        const double MaxSourceFps = 30; // what a line camera usually delivers
        var frames = options.GetInt("frames", 200);
        var clip = WorkerBenchmark.Clip(frames);
        var images = WorkerBenchmark.Decode(clip);
        var capacity = await WorkerBenchmark.EngineAloneAsync(model, images, 2, batch);
        var decoding = WorkerBenchmark.DecodeAlone(clip);
        Measure.Progress($"capacity: the engine alone inspects {capacity:0} frames/s at batch {batch}, one thread decodes {decoding:0} frames/s; {seconds} s per load");

        Console.WriteLine($"Machine: {Measure.Machine()}; model {Path.GetFileName(model)}, batch {batch}, batch wait {BatchWaitMilliseconds} ms, live sources of a 640x360 clip re-timed so n sources at up to {MaxSourceFps} fps offer each load exactly (DropOldest, frames older than 1 s dropped).");
        Console.WriteLine($"Capacity (engine alone, same frames, batch {batch}): {capacity:0} frames/s. Decoding alone, one thread: {decoding:0} frames/s.");
        Console.WriteLine($"The capacity left beside decoding is what inference can do on the cores decoding leaves it: capacity x (1 - offered / ({Environment.ProcessorCount} cores x {decoding:0})).");
        Console.WriteLine();
        Console.WriteLine("| load | sources x fps | offered (frames/s) | inspected (frames/s, share of capacity) | capacity left beside decoding (frames/s), inspected / that | mean batch, detector busy (share of time) | capture to publish p50 / p99 (ms) | bound: wait + 2 batch inferences, mean / p99 batch (ms) | p99 within | dropped as too old (of frames batched) | not inspected (of offered) | the p99 tail's inference (ms, median) | GC pauses (ms/s, gen2 collections) | JIT compiling (ms/s, methods) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var load in loads)
        {
            // Each source decodes every frame of its clip, so the clip is re-timed to the source's share of the load:
            // the worker decodes what is offered, no more.
            var offered = load * capacity;
            var sources = (int)Math.Ceiling(offered / MaxSourceFps);
            var fps = offered / sources;
            var timed = Measure.Clip(clip, Path.Combine(Path.GetTempPath(), string.Create(CultureInfo.InvariantCulture, $"inspection-bench-clip-{frames}-at-{fps:0.00}fps.mp4")), frames,
                "-vf", string.Create(CultureInfo.InvariantCulture, $"setpts=N/({fps:0.00}*TB)"), "-r", fps.ToString("0.00", CultureInfo.InvariantCulture));
            var run = await RunLoadAsync(model, timed, sources, batch, seconds);
            // A frame waits at most for the batch running when it arrives, then its own. Batches vary in size under a
            // live load, so the bound is given with the mean batch's inference time and with the p99 of the inference
            // times results rode in (the large batches a late frame meets).
            var bound = BatchWaitMilliseconds + (2 * run.BatchInferenceMs);
            var tailBound = BatchWaitMilliseconds + (2 * run.P99InferenceMs);
            var besideDecoding = capacity * (1 - (offered / (Environment.ProcessorCount * decoding)));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {load:0%} | {sources} x {fps:0.0} | {offered:0} | {run.InspectedPerSecond:0} ({run.InspectedPerSecond / capacity:0.00}) | {besideDecoding:0}, {run.InspectedPerSecond / Math.Min(offered, besideDecoding):0.00} | {run.MeanBatch:0.0}, {run.DetectorBusy:0.00} | {run.P50:0} / {run.P99:0} | {bound:0} / {tailBound:0} | {(run.P99 <= bound ? "yes" : "no")} / {(run.P99 <= tailBound ? "yes" : "no")} | {run.StaleShare:0.0%} | {Math.Max(0, 1 - (run.InspectedPerSecond / offered)):0.0%} | {run.TailInferenceMs:0} | {run.GcPauseMsPerSecond:0.0}, {run.Gen2Collections} | {run.JitMsPerSecond:0.0}, {run.JitMethods} |"));
        }
    }

    /// <param name="TailInferenceMs">The median batch inference time of the results at or above p99: whether the tail is slow inference or waiting.</param>
    /// <param name="GcPauseMsPerSecond">The garbage collector's pauses over the load, per second.</param>
    /// <param name="JitMsPerSecond">Time spent compiling methods over the load, per second: tiered compilation recompiles hot methods on a thread of its own, which takes a core from inference.</param>
    /// <param name="P99InferenceMs">The 99th percentile of the batch inference times the results rode in.</param>
    private sealed record LoadRun(double InspectedPerSecond, double MeanBatch, double DetectorBusy, double P50, double P99, double BatchInferenceMs, double P99InferenceMs, double StaleShare, double TailInferenceMs, double GcPauseMsPerSecond, int Gen2Collections, double JitMsPerSecond, long JitMethods);

    private static async Task<LoadRun> RunLoadAsync(string model, string clip, int sources, int batch, int seconds)
    {
        var brokerPort = Measure.FreePort();
        var latencies = new List<(double Latency, double Inference)>();
        await using var worker = await WorkerBenchmark.RunningWorker.StartAsync(model, clip, sources, batch, realtime: true, [$"--Inspection:Mqtt:EmbeddedBrokerPort={brokerPort}"]);
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
        var (jitBefore, methodsBefore) = (JitInfo.GetCompilationTime(), JitInfo.GetCompiledMethodCount());
        lock (latencies)
        {
            measuring = true;
        }

        Measure.Progress($"{sources} sources of {Path.GetFileName(clip)} for {seconds} s");
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
            var batches = Math.Max(1, after.Batches - before.Batches);
            return new LoadRun(
                inspected / seconds,
                inspected / batches,
                (after.InferenceSeconds - before.InferenceSeconds) / seconds / worker.ConcurrentBatches,
                WorkerBenchmark.Percentile(all, 0.5),
                p99,
                1000 * (after.InferenceSeconds - before.InferenceSeconds) / batches,
                WorkerBenchmark.Percentile(latencies.Select(l => l.Inference), 0.99),
                stale / Math.Max(1, inspected + stale),
                WorkerBenchmark.Percentile(tail, 0.5),
                (GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds / seconds,
                GC.CollectionCount(2) - gen2Before,
                (JitInfo.GetCompilationTime() - jitBefore).TotalMilliseconds / seconds,
                JitInfo.GetCompiledMethodCount() - methodsBefore);
        }
    }

    private readonly record struct Counts(double Inspected, double Stale, double InferenceSeconds, double Batches);

    private static Counts Snapshot(WorkerMetrics metrics, CameraFeeds feeds) => new(
        feeds.Sum(f => metrics.Camera(f.Id).Inspected.Value),
        feeds.Sum(f => (double)f.Stale),
        metrics.Inference.Sum,
        metrics.Inference.Count);
}

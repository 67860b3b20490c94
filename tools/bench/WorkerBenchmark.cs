using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.Core;
using Inspection.Inference;
using Inspection.Vision;
using Inspection.Worker;
using Inspection.Worker.Observability;
using Inspection.Worker.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using OpenCvSharp;

namespace Inspection.Bench;

/// <summary>
/// The worker end to end (decode, batch, detect, rules, JSON, durable queue, embedded broker) on N file
/// sources delivering every frame, against the engine alone on the same frames (already decoded) at the same
/// batch size, in the same run; and the capture-to-subscriber latency of the same worker at the video's own
/// (live) rate, measured by an MQTT subscriber.
/// </summary>
internal static class WorkerBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var rounds = options.GetInt("rounds", 3);
        var frames = options.GetInt("frames", 200);
        var streams = options.Get("streams", "1,3").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var batch = options.GetInt("batch", 8);
        var model = Model(options);
        var video = Clip(frames);
        var images = Decode(video);
        // --source jpeg: folder cameras of the same frames as JPEG files (decoding a picture is independent of the others).
        var pictures = options.Get("source", "video") == "jpeg";
        var clip = pictures ? Pictures(images) : video;
        Measure.Progress($"{Path.GetFileName(clip)}: {images.Count} frames of {images[0].Width}x{images[0].Height}; model {Path.GetFileName(model)}, batch {batch}; {rounds} rounds");

        var ratios = streams.ToDictionary(s => s, _ => new List<double>());
        var worker = streams.ToDictionary(s => s, _ => new List<double>());
        var engine = streams.ToDictionary(s => s, _ => new List<double>());
        var serial = streams.ToDictionary(s => s, _ => new List<double>());
        var busy = streams.ToDictionary(s => s, _ => new List<double>());
        var decoding = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            var decodeFps = pictures ? DecodePicturesAlone(clip) : DecodeAlone(clip);
            decoding.Add(decodeFps);
            foreach (var n in streams)
            {
                var engineFps = await EngineAloneAsync(model, images, n, batch);
                // A folder camera shows FolderFps pictures a second even when not live: here, as many as it can.
                var unpaced = pictures ? Enumerable.Range(0, n).Select(i => $"--Inspection:Cameras:{i}:FolderFps=1000") : null;
                var (workerFps, detectorBusy) = await WorkerThroughputAsync(model, clip, n, images.Count, batch, unpaced);
                engine[n].Add(engineFps);
                worker[n].Add(workerFps);
                busy[n].Add(detectorBusy);
                ratios[n].Add(workerFps / engineFps);
                serial[n].Add(workerFps / (1 / ((1 / engineFps) + (1 / decodeFps))));
                Measure.Progress($"round {round}/{rounds}, {n} source(s): engine alone {engineFps:0} images/s, decode alone {decodeFps:0}, worker end to end {workerFps:0} (ratio {workerFps / engineFps:0.00}, detector busy {detectorBusy:0.00})");
            }
        }

        // Decoding and inference share the cores: with nothing overlapped, a frame costs a decode plus its share of
        // an inference, so 1 / (1/engine + 1/decode) is what a plain decode-then-detect loop would reach.
        Console.WriteLine($"Machine: {Measure.Machine()}. Decoding alone (one thread, {(pictures ? "JPEG files" : "H.264")} to BGR): {Measure.Median(decoding):0} frames/s.");
        Console.WriteLine($"| {(pictures ? "folder" : "file")} sources | engine alone (images/s) | worker, decode to publish (images/s) | worker / engine (median of rounds) | worker / decode-then-detect in series | detector busy (share of the worker's time) |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var n in streams)
        {
            Console.WriteLine($"| {n} | {Measure.Median(engine[n]):0} | {Measure.Median(worker[n]):0} | {Measure.Median(ratios[n]):0.00} | {Measure.Median(serial[n]):0.00} | {Measure.Median(busy[n]):0.00} |");
        }

        var live = streams.Max();
        var liveSeconds = options.GetInt("live-seconds", 20);
        if (liveSeconds <= 0)
        {
            return; // throughput only
        }

        var (p50, p99, count, publishP50, publishP99) = await LiveLatencyAsync(model, clip, live, liveSeconds);
        Console.WriteLine($"Live rate ({live} sources at the video's own pace, {count} results): capture to subscriber p50 {p50:0.0} ms, p99 {p99:0.0} ms; capture to publish p50 {publishP50:0.0} ms, p99 {publishP99:0.0} ms.");
    }

    /// <summary>
    /// The engine on already decoded frames, the way the worker calls it: batches of <paramref name="batch"/>, as
    /// many at once as the detector was opened for (its lanes take the next batch when they finish one).
    /// </summary>
    internal static async Task<double> EngineAloneAsync(string model, List<Mat> images, int sources, int batch)
    {
        await using var detector = YoloDetector.Open(BenchOptions.Detector(model));
        var views = Enumerable.Range(0, sources).SelectMany(_ => images).Select(MatImage.View).ToArray();
        var lanes = detector.ConcurrentBatches;
        var results = Enumerable.Range(0, lanes).Select(_ => Enumerable.Range(0, batch).Select(_ => new List<Detection>()).ToArray()).ToArray();
        var thresholds = new DetectionThresholds(0.15f, 0.45f, 300);
        detector.Detect(views.AsSpan(0, batch), results[0], thresholds); // warm-up
        var next = -batch;
        var clock = Stopwatch.StartNew();
        Measure.RunOnThreads(lanes, lane =>
        {
            int start;
            while ((start = Interlocked.Add(ref next, batch)) < views.Length)
            {
                var count = Math.Min(batch, views.Length - start);
                detector.Detect(views.AsSpan(start, count), results[lane].AsSpan(0, count), thresholds);
            }
        });
        return views.Length / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The model the worker benchmarks run: <c>--model</c>, or the demo model (workpiece-crack, 320 px).</summary>
    internal static string Model(BenchOptions options) =>
        options.Get("model", Path.Combine(BenchOptions.RepositoryRoot(), "models/workpiece-crack/workpiece-crack-yolov8n-320.onnx"));

    /// <summary>
    /// The worker's images/s in steady state, from its first result to the last of <paramref name="sources"/> x
    /// <paramref name="frames"/> handed to its outputs, on file sources delivering every frame (opening the sources and
    /// filling the pipeline are start-up, which the engine alone does not pay either). <paramref name="configuration"/> adds settings
    /// (<c>--Inspection:...=...</c>) to the benchmark's own, so other benchmarks measure the same worker with one
    /// thing changed; <paramref name="measured"/> looks at the worker's services right when the clock stops,
    /// before it is stopped.
    /// </summary>
    internal static async Task<(double Fps, double DetectorBusy)> WorkerThroughputAsync(string model, string clip, int sources, int frames, int batch,
        IEnumerable<string>? configuration = null, Action<IServiceProvider>? measured = null)
    {
        await using var worker = await RunningWorker.StartAsync(model, clip, sources, batch, realtime: false, configuration);
        var inference = worker.Services.GetRequiredService<WorkerMetrics>().Inference;
        long first;
        while ((first = worker.Published) == 0)
        {
            await Task.Delay(10); // start-up: not measured
        }

        var (started, inferenceBefore) = (Stopwatch.GetTimestamp(), inference.Sum);
        var elapsed = Stopwatch.GetElapsedTime(started, await Measure.ReachedAsync(() => worker.Published, (long)sources * frames)).TotalSeconds;
        var fps = ((sources * frames) - first) / elapsed;
        var busy = (inference.Sum - inferenceBefore) / elapsed / worker.ConcurrentBatches;
        measured?.Invoke(worker.Services);
        return (fps, busy);
    }

    private static async Task<(double P50, double P99, int Count, double PublishP50, double PublishP99)> LiveLatencyAsync(string model, string clip, int sources, int seconds)
    {
        var brokerPort = Measure.FreePort();
        var toSubscriber = new List<double>();
        var toPublish = new List<double>();
        await using (var worker = await RunningWorker.StartAsync(model, clip, sources, 8, realtime: true, [$"--Inspection:Mqtt:EmbeddedBrokerPort={brokerPort}"]))
        {
            using var client = new MqttClientFactory().CreateMqttClient();
            client.ApplicationMessageReceivedAsync += e =>
            {
                var received = DateTimeOffset.UtcNow;
                using var json = JsonDocument.Parse(e.ApplicationMessage.Payload);
                var capture = json.RootElement.GetProperty("captureTime").GetDateTimeOffset();
                var publish = json.RootElement.GetProperty("publishTime").GetDateTimeOffset();
                lock (toSubscriber)
                {
                    toSubscriber.Add((received - capture).TotalMilliseconds);
                    toPublish.Add((publish - capture).TotalMilliseconds);
                }

                return Task.CompletedTask;
            };
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", brokerPort).WithClientId("bench").Build());
            await client.SubscribeAsync("inspection/+/+/+/result");
            Measure.Progress($"live: {sources} sources at the video's pace for {seconds} s");
            await Task.Delay(TimeSpan.FromSeconds(seconds));
        }

        lock (toSubscriber)
        {
            var skip = toSubscriber.Count / 10; // the first second or so: camera start-up
            return (Percentile(toSubscriber.Skip(skip), 0.5), Percentile(toSubscriber.Skip(skip), 0.99), toSubscriber.Count, Percentile(toPublish.Skip(skip), 0.5), Percentile(toPublish.Skip(skip), 0.99));
        }
    }

    internal static string[] Arguments(string model, string clip, int sources, int batch, string folder, bool realtime)
    {
        List<string> args =
        [
            $"--Inspection:Model:ModelPath={model}",
            $"--Inspection:Batching:MaxBatchSize={batch}",
            $"--Inspection:Mqtt:EmbeddedBrokerPort={Measure.FreePort()}",
            $"--Inspection:Mqtt:Queue:Directory={Path.Combine(folder, "queue")}",
            $"--Inspection:Web:KeysDirectory={Path.Combine(folder, "web-keys")}",
            $"--Inspection:Evidence:Enabled=false",
            $"--Inspection:Http:Url=http://127.0.0.1:{Measure.FreePort()}", $"--Inspection:Web:Url=http://127.0.0.1:{Measure.FreePort()}",
            "--Logging:LogLevel:Default=Warning",
            .. BenchOptions.WorkerDevice(),
        ];
        for (var i = 0; i < sources; i++)
        {
            args.Add($"--Inspection:Cameras:{i}:Id=file{i}");
            args.Add($"--Inspection:Cameras:{i}:Uri={clip}");
            args.Add($"--Inspection:Cameras:{i}:Policy={(realtime ? BufferPolicy.DropOldest : BufferPolicy.DeliverAll)}");
            args.Add($"--Inspection:Cameras:{i}:Realtime={realtime}");
            args.Add($"--Inspection:Cameras:{i}:Loop={realtime}");
            args.Add($"--Inspection:Cameras:{i}:Integrity:Enabled=false");
        }

        return [.. args];
    }

    /// <summary>Frames/s of decoding <paramref name="clip"/> into one reused BGR buffer, as a camera's thread does.</summary>
    internal static double DecodeAlone(string clip)
    {
        using var capture = new VideoCapture(clip);
        using var frame = new Mat();
        var clock = Stopwatch.StartNew();
        var count = 0;
        while (capture.Read(frame) && !frame.Empty())
        {
            count++;
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Frames/s of reading the JPEG files of <paramref name="folder"/>, as a folder camera reads them.</summary>
    private static double DecodePicturesAlone(string folder)
    {
        var files = Directory.GetFiles(folder, "*.jpg");
        var clock = Stopwatch.StartNew();
        foreach (var file in files)
        {
            using var image = Cv2.ImRead(file, ImreadModes.Color);
        }

        return files.Length / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The frames as numbered JPEG files (quality 95) in a folder of their own, for folder cameras.</summary>
    private static string Pictures(List<Mat> images)
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"inspection-bench-jpegs-{images.Count}")).FullName;
        for (var i = 0; i < images.Count; i++)
        {
            var file = Path.Combine(folder, $"{i:00000}.jpg");
            if (!File.Exists(file))
            {
                Cv2.ImWrite(file, images[i], new ImageEncodingParam(ImwriteFlags.JpegQuality, 95));
            }
        }

        return folder;
    }

    /// <summary>The clip's frames (the first <paramref name="most"/>), decoded.</summary>
    internal static List<Mat> Decode(string clip, int most = int.MaxValue)
    {
        using var capture = new VideoCapture(clip);
        var images = new List<Mat>();
        while (images.Count < most)
        {
            var frame = new Mat();
            if (!capture.Read(frame) || frame.Empty())
            {
                frame.Dispose();
                return images;
            }

            images.Add(frame);
        }

        return images;
    }

    /// <summary>The first <paramref name="frames"/> frames of the shared traffic video (640x360) as a short H.264 clip.</summary>
    internal static string Clip(int frames) =>
        Measure.Clip(Path.Combine(BenchOptions.Shared, "media/traffic_cKuhn517_MIT.mp4"), Path.Combine(Path.GetTempPath(), $"inspection-bench-clip-{frames}.mp4"), frames);

    /// <summary>How many frames <paramref name="clip"/> holds (an MP4 knows it exactly): the results a file source gives.</summary>
    internal static int FrameCount(string clip)
    {
        using var capture = new VideoCapture(clip);
        return (int)capture.Get(VideoCaptureProperties.FrameCount);
    }

    internal static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(p * sorted.Length))];
    }

    /// <summary>A worker built and started as the benchmarks run it, in a folder of its own; disposing stops it and deletes the folder.</summary>
    internal sealed class RunningWorker : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _folder;
        private readonly CameraFeeds _feeds;
        private readonly WorkerMetrics _metrics;

        private RunningWorker(WebApplication app, string folder)
        {
            (_app, _folder) = (app, folder);
            _feeds = app.Services.GetRequiredService<CameraFeeds>();
            _metrics = app.Services.GetRequiredService<WorkerMetrics>();
        }

        public IServiceProvider Services => _app.Services;

        /// <summary>How many batches its detector runs at once.</summary>
        public int ConcurrentBatches => _app.Services.GetRequiredService<Inspection.Worker.Serving.ModelHost>().Serving.Detector.ConcurrentBatches;

        /// <summary>Results handed to the outputs so far, all cameras together.</summary>
        public long Published => _feeds.Sum(f => _metrics.Camera(f.Id).Published);

        /// <summary>
        /// <paramref name="sources"/> file sources of <paramref name="clip"/>, delivering every frame (or, <paramref name="realtime"/>,
        /// at the clip's pace, looping); <paramref name="configuration"/> adds settings (<c>--Inspection:...=...</c>) that win over these.
        /// </summary>
        public static async Task<RunningWorker> StartAsync(string model, string clip, int sources, int batch, bool realtime, IEnumerable<string>? configuration = null)
        {
            var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "inspection-bench-" + Guid.NewGuid().ToString("N"))).FullName;
            var (app, problems) = WorkerApp.Build(BenchOptions.WithSettings([.. Arguments(model, clip, sources, batch, folder, realtime), .. configuration ?? []]));
            if (app is null)
            {
                throw new InvalidOperationException(string.Join("; ", problems));
            }

            await app.StartAsync();
            return new RunningWorker(app, folder);
        }

        /// <summary>Stops as SIGTERM does: the frames taken are inspected and published first.</summary>
        public Task StopAsync() => _app.StopAsync();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            Directory.Delete(_folder, recursive: true);
        }
    }
}

/// <summary>
/// The worker run the benchmarks share to measure one change to the worker: <c>--sources</c> (3) file sources of the
/// first <c>--frames</c> (200) frames of the street clip, delivering every frame, batches of <c>--batch</c> (8), the
/// model of <c>--model</c> (the demo model).
/// </summary>
internal sealed record WorkerRun(string Model, string Clip, int Frames, int Sources, int Batch)
{
    public int Results => Sources * Frames;

    public static WorkerRun From(BenchOptions options)
    {
        var clip = WorkerBenchmark.Clip(options.GetInt("frames", 200));
        return new WorkerRun(WorkerBenchmark.Model(options), clip, WorkerBenchmark.FrameCount(clip), options.GetInt("sources", 3), options.GetInt("batch", 8));
    }

    /// <summary>Images per second; see <see cref="WorkerBenchmark.WorkerThroughputAsync"/>.</summary>
    public async Task<double> ThroughputAsync(IEnumerable<string>? configuration = null, Action<IServiceProvider>? measured = null) =>
        (await WorkerBenchmark.WorkerThroughputAsync(Model, Clip, Sources, Frames, Batch, configuration, measured)).Fps;

    /// <summary>This run's worker, started; its rate is the caller's to measure.</summary>
    public Task<WorkerBenchmark.RunningWorker> StartAsync(IEnumerable<string>? configuration = null) =>
        WorkerBenchmark.RunningWorker.StartAsync(Model, Clip, Sources, Batch, realtime: false, configuration);

    public override string ToString() => $"{Sources} file sources x {Frames} frames, model {Path.GetFileName(Model)}, batch {Batch}";
}

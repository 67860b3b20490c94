using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Inspection.Bench;

/// <summary>
/// What watching the line costs the worker (issue 13): the built worker in a process of its own, 4 cameras looping
/// the clip at 25 fps (DropOldest), in rounds of two phases, one without a viewer and one with a headless viewer
/// (every camera's stream.mjpg and the /api/events feed, as the camera page reads them), the order alternating from
/// round to round. Inspected frames/s come from the worker's /metrics over each phase; the viewer counts the whole
/// JPEG parts each stream delivers and times every result event from its capture.
/// </summary>
internal static class WebBenchmark
{
    /// <summary>The rate the camera page asks its stream for (camera.js).</summary>
    private const int StreamFps = 15;

    public static async Task RunAsync(BenchOptions options)
    {
        var cameras = options.GetInt("cameras", 4);
        var fps = options.GetInt("fps", 25);
        var seconds = options.GetInt("seconds", 20);
        var rounds = options.GetInt("rounds", 3);
        var warmUp = options.GetInt("warmup", 10);
        var model = WorkerBenchmark.Model(options);
        var clip = WorkerBenchmark.Clip(options.GetInt("frames", 200));
        await using var worker = await WorkerProcess.StartAsync(model, clip, cameras, fps);
        Measure.Progress($"web: worker {worker.Id} with {cameras} cameras looping {Path.GetFileName(clip)} at {fps} fps, model {Path.GetFileName(model)}; warm-up {warmUp} s");
        await Task.Delay(TimeSpan.FromSeconds(warmUp));

        var without = new List<Phase>();
        var with = new List<Phase>();
        var viewed = new List<ViewerReport>();
        for (var round = 1; round <= rounds; round++)
        {
            // The first phase of a round goes second in the next, so a machine that speeds up or slows down weighs on both.
            bool[] order = round % 2 == 1 ? [false, true] : [true, false];
            foreach (var watched in order)
            {
                if (watched)
                {
                    await using var viewer = await Viewer.ConnectAsync(worker.WebUrl);
                    with.Add(await PhaseAsync(worker, seconds, viewer));
                    viewed.Add(viewer.Report());
                    Measure.Progress($"round {round}/{rounds}, viewer: {with[^1]}; {viewed[^1]}");
                }
                else
                {
                    without.Add(await PhaseAsync(worker, seconds, viewer: null));
                    Measure.Progress($"round {round}/{rounds}, no viewer: {without[^1]}");
                }
            }
        }

        Console.WriteLine($"Machine: {Measure.Machine()}.");
        Console.WriteLine($"{cameras} cameras looping {Path.GetFileName(clip)} at {fps} fps (DropOldest), model {Path.GetFileName(model)}, worker in its own process; " +
            $"phases of {seconds} s after a {warmUp} s warm-up; viewer: stream.mjpg?fps={StreamFps} of every camera and /api/events.");
        Measure.PairedTable(("without viewer (inspected frames/s)", without.Select(p => p.Inspected).ToList()), ("with viewer (inspected frames/s)", with.Select(p => p.Inspected).ToList()), "with / without");
        Console.WriteLine();
        Console.WriteLine("| round | worker CPU without / with (cores) | capture to publish, mean, without / with (ms) | viewer client CPU (cores) | stream frames/s per camera | feed results | capture to feed p50 / p99 (ms) | feed events lost |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        for (var i = 0; i < rounds; i++)
        {
            var v = viewed[i];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {i + 1} | {without[i].WorkerCores:0.00} / {with[i].WorkerCores:0.00} | {without[i].CaptureToPublishMs:0.0} / {with[i].CaptureToPublishMs:0.0} | {v.ClientCores:0.00} | {string.Join(", ", v.StreamFps.Select(f => f.ToString("0.0", CultureInfo.InvariantCulture)))} | {v.FeedLatencyMs.Count} | {WorkerBenchmark.Percentile(v.FeedLatencyMs, 0.5):0.0} / {WorkerBenchmark.Percentile(v.FeedLatencyMs, 0.99):0.0} | {v.Lost} |"));
        }

        var latencies = viewed.SelectMany(v => v.FeedLatencyMs).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Stream delivered {Measure.Median(viewed.SelectMany(v => v.StreamFps)):0.0} frames/s per camera (median over cameras and rounds; asked for {StreamFps}). " +
            $"Feed, all rounds ({latencies.Count} results): capture to feed p50 {WorkerBenchmark.Percentile(latencies, 0.5):0.0} ms, p99 {WorkerBenchmark.Percentile(latencies, 0.99):0.0} ms. " +
            $"A result event carries its capture time, not its publish time: capture to publish above is the worker's own mean over the phase (its /metrics)."));
    }

    private static async Task<Phase> PhaseAsync(WorkerProcess worker, int seconds, Viewer? viewer)
    {
        var before = await worker.ScrapeAsync();
        var clock = Stopwatch.StartNew();
        viewer?.Begin();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        viewer?.End();
        var after = await worker.ScrapeAsync();
        return Phase.Between(before, after, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The worker's rates over a phase, from two scrapes of its /metrics.</summary>
    private sealed record Phase(double Read, double Inspected, double WorkerCores, double CaptureToPublishMs)
    {
        public static Phase Between(Scrape before, Scrape after, double seconds)
        {
            double Delta(string name) => after.Sum(name) - before.Sum(name);
            return new Phase(
                Delta("inspection_frames_read_total") / seconds,
                Delta("inspection_frames_inspected_total") / seconds,
                Delta("process_cpu_seconds_total") / seconds,
                1000 * Delta("inspection_capture_to_publish_seconds_sum") / Delta("inspection_capture_to_publish_seconds_count"));
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"read {Read:0.0} frames/s, inspected {Inspected:0.0}/s, worker {WorkerCores:0.00} cores, capture to publish {CaptureToPublishMs:0.0} ms (mean)");
    }

    /// <summary>A /metrics page: each metric's value summed over its series (cameras, labels).</summary>
    private sealed class Scrape(string text)
    {
        public double Sum(string name)
        {
            var sum = 0.0;
            foreach (var line in text.AsSpan().EnumerateLines())
            {
                if (line.StartsWith(name) && line.Length > name.Length && line[name.Length] is '{' or ' ')
                {
                    sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }

            return sum;
        }
    }

    private sealed record ViewerReport(double[] StreamFps, List<double> FeedLatencyMs, long Lost, double ClientCores)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"streams {string.Join(", ", StreamFps.Select(f => f.ToString("0.0", CultureInfo.InvariantCulture)))} frames/s, {FeedLatencyMs.Count} feed results, capture to feed p50 {WorkerBenchmark.Percentile(FeedLatencyMs, 0.5):0.0} ms, p99 {WorkerBenchmark.Percentile(FeedLatencyMs, 0.99):0.0} ms, {Lost} events lost, client {ClientCores:0.00} cores");
    }

    /// <summary>
    /// A headless viewer on loopback (a local viewer needs no sign-in): every camera's MJPEG stream, counting the whole
    /// JPEG parts, and the event feed, timing each result from its capture time to its arrival here.
    /// </summary>
    private sealed class Viewer : IAsyncDisposable
    {
        private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);
        private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
        private readonly CancellationTokenSource _stop = new();
        private readonly List<double> _feedLatencyMs = [];
        private readonly long[] _parts;
        private readonly List<Task> _readers = [];
        private long[] _partsAtBegin = [];
        private long _lost;
        private long _results;
        private Stopwatch _clock = new();
        private TimeSpan _cpuAtBegin;
        private ViewerReport? _report;

        private Viewer(int cameras) => _parts = new long[cameras];

        /// <summary>Opens every stream and the feed, and returns once each stream has delivered a frame and the feed a result.</summary>
        public static async Task<Viewer> ConnectAsync(string webUrl)
        {
            using var list = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var cameras = await list.GetFromJsonAsync<CameraCard[]>($"{webUrl}/api/cameras") ?? [];
            var viewer = new Viewer(cameras.Length);
            try
            {
                await viewer.StartAsync(webUrl, cameras);
            }
            catch
            {
                await viewer.DisposeAsync();
                throw;
            }

            return viewer;
        }

        private async Task StartAsync(string webUrl, CameraCard[] cameras)
        {
            for (var i = 0; i < cameras.Length; i++)
            {
                _readers.Add(ReadStreamAsync($"{webUrl}/api/cameras/{Uri.EscapeDataString(cameras[i].Id)}/stream.mjpg?fps={StreamFps}", i));
            }

            _readers.Add(ReadEventsAsync($"{webUrl}/api/events"));
            var clock = Stopwatch.StartNew();
            while (Enumerable.Range(0, _parts.Length).Any(i => Interlocked.Read(ref _parts[i]) == 0) || Interlocked.Read(ref _results) == 0)
            {
                if (_readers.FirstOrDefault(r => r.IsCompleted) is { } ended)
                {
                    await ended; // a reader only ends by failing: this says why
                }

                if (clock.Elapsed > StartLimit)
                {
                    throw new TimeoutException($"the viewer got no frame on some stream or no result within {StartLimit.TotalSeconds:0} s");
                }

                await Task.Delay(50);
            }
        }

        public void Begin()
        {
            lock (_feedLatencyMs)
            {
                _feedLatencyMs.Clear();
                _partsAtBegin = [.. _parts.Select((_, i) => Interlocked.Read(ref _parts[i]))];
                Interlocked.Exchange(ref _lost, 0);
                _cpuAtBegin = Measure.CpuTime();
                _clock = Stopwatch.StartNew();
            }
        }

        public void End()
        {
            lock (_feedLatencyMs)
            {
                var seconds = _clock.Elapsed.TotalSeconds;
                _report = new ViewerReport(
                    [.. _parts.Select((_, i) => (Interlocked.Read(ref _parts[i]) - _partsAtBegin[i]) / seconds)],
                    [.. _feedLatencyMs],
                    Interlocked.Read(ref _lost),
                    (Measure.CpuTime() - _cpuAtBegin).TotalSeconds / seconds);
            }
        }

        public ViewerReport Report() => _report ?? throw new InvalidOperationException("the viewer's phase has not ended");

        private async Task ReadStreamAsync(string url, int camera)
        {
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
            response.EnsureSuccessStatusCode();
            var body = PipeReader.Create(await response.Content.ReadAsStreamAsync(_stop.Token));
            while (true)
            {
                var read = await body.ReadAsync(_stop.Token);
                var buffer = read.Buffer;
                while (TryTakePart(ref buffer, out var wholeJpeg))
                {
                    if (!wholeJpeg)
                    {
                        throw new InvalidDataException($"{url} sent a part that is not a whole JPEG");
                    }

                    Interlocked.Increment(ref _parts[camera]);
                }

                body.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted)
                {
                    throw new IOException($"the worker ended {url}");
                }
            }
        }

        /// <summary>
        /// Takes one part ("--boundary", headers with Content-Length, a blank line, the JPEG, CRLF) off the front of
        /// <paramref name="buffer"/> once all of it has arrived; a whole JPEG starts with SOI (FF D8) and ends with EOI (FF D9).
        /// </summary>
        private static bool TryTakePart(ref ReadOnlySequence<byte> buffer, out bool wholeJpeg)
        {
            wholeJpeg = false;
            var reader = new SequenceReader<byte>(buffer);
            if (!reader.TryReadTo(out ReadOnlySequence<byte> head, "\r\n\r\n"u8))
            {
                return false;
            }

            var length = ContentLength(Encoding.ASCII.GetString(head));
            if (reader.Remaining < length + 2)
            {
                return false;
            }

            var jpeg = reader.UnreadSequence.Slice(0, length);
            Span<byte> first = stackalloc byte[2];
            Span<byte> last = stackalloc byte[2];
            if (length >= 4)
            {
                jpeg.Slice(0, 2).CopyTo(first);
                jpeg.Slice(length - 2).CopyTo(last);
                wholeJpeg = first is [0xFF, 0xD8] && last is [0xFF, 0xD9];
            }

            reader.Advance(length + 2);
            buffer = buffer.Slice(reader.Position);
            return true;
        }

        private static int ContentLength(string head)
        {
            foreach (var line in head.Split("\r\n"))
            {
                if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                {
                    return int.Parse(line.AsSpan("Content-Length:".Length).Trim(), CultureInfo.InvariantCulture);
                }
            }

            throw new InvalidDataException($"a stream part without Content-Length: {head}");
        }

        private async Task ReadEventsAsync(string url)
        {
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
            response.EnsureSuccessStatusCode();
            using var lines = new StreamReader(await response.Content.ReadAsStreamAsync(_stop.Token));
            string? name = null;
            while (await lines.ReadLineAsync(_stop.Token) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal) && name is "result" or "gap")
                {
                    var received = DateTimeOffset.UtcNow;
                    using var json = JsonDocument.Parse(line.AsMemory("data: ".Length));
                    if (name == "gap")
                    {
                        Interlocked.Add(ref _lost, json.RootElement.GetProperty("missed").GetInt64());
                        continue;
                    }

                    var capture = json.RootElement.GetProperty("captureTime").GetDateTimeOffset();
                    Interlocked.Increment(ref _results);
                    lock (_feedLatencyMs)
                    {
                        _feedLatencyMs.Add((received - capture).TotalMilliseconds);
                    }
                }
            }

            throw new IOException($"the worker ended {url}");
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            foreach (var reader in _readers)
            {
                try
                {
                    await reader;
                }
                catch (OperationCanceledException)
                {
                    // stopped on purpose
                }
            }

            _http.Dispose();
            _stop.Dispose();
        }

        private sealed record CameraCard(string Id);
    }

    /// <summary>
    /// The built worker (inspection-worker.dll, the configuration this benchmark was built in) run as an operator runs
    /// it, in a process and a folder of its own, with the benchmarks' live settings (<see cref="WorkerBenchmark"/>):
    /// looping file cameras at their clip's pace, capped at <c>fps</c>. Its output goes to stderr; disposing sends
    /// SIGTERM and deletes the folder.
    /// </summary>
    private sealed class WorkerProcess : IAsyncDisposable
    {
        private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(2);
        private readonly Process _process;
        private readonly string _folder;
        private readonly string _metricsUrl;
        private readonly string _readyUrl;
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

        private WorkerProcess(Process process, string folder, string httpUrl, string webUrl)
        {
            (_process, _folder, WebUrl) = (process, folder, webUrl);
            (_metricsUrl, _readyUrl) = ($"{httpUrl}/metrics", $"{httpUrl}/health/ready");
        }

        public string WebUrl { get; }

        public int Id => _process.Id;

        public static async Task<WorkerProcess> StartAsync(string model, string clip, int cameras, int fps)
        {
            var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "inspection-bench-" + Guid.NewGuid().ToString("N"))).FullName;
            var (httpUrl, webUrl) = ($"http://127.0.0.1:{Measure.FreePort()}", $"http://127.0.0.1:{Measure.FreePort()}");
            var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = folder };
            start.ArgumentList.Add(WorkerPath());

            // Later settings win: the listeners this benchmark talks to, and each camera's rate cap.
            foreach (var arg in (string[])[.. WorkerBenchmark.Arguments(model, clip, cameras, 8, folder, realtime: true), $"--Inspection:Http:Url={httpUrl}", $"--Inspection:Web:Url={webUrl}",
                         .. Enumerable.Range(0, cameras).Select(i => $"--Inspection:Cameras:{i}:MaxFps={fps}")])
            {
                start.ArgumentList.Add(arg);
            }

            var process = new Process { StartInfo = start };
            process.OutputDataReceived += (_, e) => Forward(e.Data);
            process.ErrorDataReceived += (_, e) => Forward(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var worker = new WorkerProcess(process, folder, httpUrl, webUrl);
            try
            {
                await worker.WaitReadyAsync();
            }
            catch
            {
                await worker.DisposeAsync();
                throw;
            }

            return worker;
        }

        public async Task<Scrape> ScrapeAsync() => new(await _http.GetStringAsync(_metricsUrl));

        private async Task WaitReadyAsync()
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < StartLimit)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"the worker exited with code {_process.ExitCode} before it was ready (its output is above)");
                }

                try
                {
                    using var response = await _http.GetAsync(_readyUrl);
                    if (response.IsSuccessStatusCode)
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                    // not listening yet
                }

                await Task.Delay(200);
            }

            throw new TimeoutException($"the worker was not ready within {StartLimit.TotalMinutes:0} min");
        }

        /// <summary>The worker's own build output, in the configuration (Debug or Release) of this benchmark.</summary>
        private static string WorkerPath()
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var path = Path.Combine(BenchOptions.RepositoryRoot(), "src", "Inspection.Worker", "bin", configuration, "net10.0", "linux-x64", "inspection-worker.dll");
            return File.Exists(path) ? path : throw new Core.InspectionInputException($"the worker is not built in {configuration} ({path}): build tools/bench, which builds it.");
        }

        private static void Forward(string? line)
        {
            if (line is not null)
            {
                Console.Error.WriteLine($"  worker: {line}");
            }
        }

        /// <summary>SIGTERM, as systemd stops it; a worker that has not stopped within 30 s is killed.</summary>
        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
                {
                    await kill.WaitForExitAsync();
                }

                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await _process.WaitForExitAsync(limit.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }

            _process.Dispose();
            _http.Dispose();
            Directory.Delete(_folder, recursive: true);
        }
    }
}

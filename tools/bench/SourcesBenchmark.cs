using System.Diagnostics;
using System.Globalization;
using Inspection.Core;
using Inspection.Vision;
using OpenCvSharp;

namespace Inspection.Bench;

/// <summary>
/// Decode throughput of 1, 2 and 4 parallel 720p H.264 streams through CameraSource against a plain OpenCV
/// VideoCapture loop on the same file, in the same run; and the CPU time per frame of the ffmpeg-pipe path.
/// </summary>
internal static class SourcesBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var rounds = options.GetInt("rounds", 3);
        var streams = options.Get("streams", "1,2,4").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var video = options.Get("video", string.Empty);
        if (video.Length == 0)
        {
            video = Prepare720p(Path.Combine(BenchOptions.Shared, "media/traffic_cKuhn517_MIT.mp4"));
        }

        int frameCount;
        using (var probe = new VideoCapture(video))
        {
            frameCount = CountFrames(probe);
        }

        Measure.Progress($"{Path.GetFileName(video)}: {frameCount} frames of 1280x720 H.264; {rounds} rounds");
        var plain = streams.ToDictionary(s => s, _ => new List<double>());
        var ours = streams.ToDictionary(s => s, _ => new List<double>());
        var oursNoChecks = streams.ToDictionary(s => s, _ => new List<double>());
        var ratios = streams.ToDictionary(s => s, _ => new List<double>());
        var cpuPerFrame = new Dictionary<string, List<double>> { ["OpenCV VideoCapture"] = [], ["CameraSource (file)"] = [], ["CameraSource (ffmpeg pipe)"] = [] };
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var n in streams)
            {
                var (plainFps, plainCpu) = Timed(() => PlainLoops(video, n), n * frameCount);
                var (ourFps, ourCpu) = await TimedAsync(() => ThroughSources(video, n, SourceKind.File, checks: true), n * frameCount);
                var (bareFps, _) = await TimedAsync(() => ThroughSources(video, n, SourceKind.File, checks: false), n * frameCount);
                plain[n].Add(plainFps);
                ours[n].Add(ourFps);
                oursNoChecks[n].Add(bareFps);
                ratios[n].Add(ourFps / plainFps);
                if (n == 1)
                {
                    var (_, pipeCpu) = await TimedAsync(() => ThroughSources(video, 1, SourceKind.Ffmpeg, checks: true), frameCount);
                    cpuPerFrame["OpenCV VideoCapture"].Add(plainCpu);
                    cpuPerFrame["CameraSource (file)"].Add(ourCpu);
                    cpuPerFrame["CameraSource (ffmpeg pipe)"].Add(pipeCpu);
                }

                Measure.Progress($"round {round}/{rounds}, {n} stream(s): OpenCV {plainFps:0} frames/s, ours {ourFps:0} (ratio {ourFps / plainFps:0.00}), ours without integrity checks {bareFps:0}");
            }
        }

        Console.WriteLine($"Machine: {Measure.Machine()}.");
        Console.WriteLine($"Video: {frameCount} frames, 1280x720 H.264 (the shared street video scaled up with libx264); medians of {rounds} rounds; every frame decoded (deliver-every-frame, no pacing).");
        Console.WriteLine();
        Console.WriteLine("| parallel streams | plain OpenCV loop, frames/s | CameraSource, frames/s | ratio | CameraSource without integrity checks, frames/s |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var n in streams)
        {
            Console.WriteLine($"| {n} | {Measure.Median(plain[n]):0} | {Measure.Median(ours[n]):0} | {Measure.Median(ratios[n]):0.00} | {Measure.Median(oursNoChecks[n]):0} |");
        }

        Console.WriteLine();
        Console.WriteLine("| one stream | CPU time per frame (this process and its children) |");
        Console.WriteLine("|---|---|");
        foreach (var (path, values) in cpuPerFrame)
        {
            Console.WriteLine($"| {path} | {Measure.Median(values):0.00} ms |");
        }
    }

    /// <summary>One thread per stream, as CameraSource has, so that both sides run the same number of decoders at once.</summary>
    private static void PlainLoops(string video, int count)
    {
        var threads = Enumerable.Range(0, count).Select(_ => new Thread(() => PlainLoop(video))).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
    }

    private static void PlainLoop(string video)
    {
        using var capture = new VideoCapture(video, VideoCaptureAPIs.FFMPEG);
        using var frame = new Mat();
        while (capture.Read(frame) && !frame.Empty())
        {
        }
    }

    private static async Task ThroughSources(string video, int count, SourceKind kind, bool checks)
    {
        var sources = Enumerable.Range(0, count).Select(i => new CameraSource(new CameraOptions
        {
            Id = $"bench{i}",
            Uri = video,
            Kind = kind,
            Policy = BufferPolicy.DeliverAll,
            Realtime = false,
            Integrity = new IntegrityOptions { Enabled = checks },
        })).ToList();
        var consumers = sources.Select(s => Task.Run(async () =>
        {
            await foreach (var frame in s.Frames.ReadAllAsync())
            {
                frame.Dispose();
            }
        })).ToList();
        sources.ForEach(s => s.Start());
        await Task.WhenAll(consumers);
        foreach (var source in sources)
        {
            await source.DisposeAsync();
        }
    }

    private static (double FramesPerSecond, double CpuMsPerFrame) Timed(Action work, int frames)
    {
        var (cpu, clock) = (Measure.CpuTime(), Stopwatch.StartNew());
        work();
        return (frames / clock.Elapsed.TotalSeconds, (Measure.CpuTime() - cpu).TotalMilliseconds / frames);
    }

    private static async Task<(double FramesPerSecond, double CpuMsPerFrame)> TimedAsync(Func<Task> work, int frames)
    {
        var (cpu, clock) = (Measure.CpuTime(), Stopwatch.StartNew());
        await work();
        return (frames / clock.Elapsed.TotalSeconds, (Measure.CpuTime() - cpu).TotalMilliseconds / frames);
    }

    private static int CountFrames(VideoCapture capture)
    {
        var count = 0;
        while (capture.Grab())
        {
            count++;
        }

        return count;
    }

    /// <summary>The first 400 frames of the shared street video scaled to 1280x720 as an H.264 clip (made once, kept in /tmp).</summary>
    internal static string Prepare720p(string source) =>
        Measure.Clip(source, Path.Combine(Path.GetTempPath(), "inspection-bench-720p.mp4"), frames: 400, "-vf", "scale=1280:720");
}

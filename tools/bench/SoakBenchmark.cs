using System.Diagnostics;
using System.Globalization;
using Inspection.Worker.Pipeline;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Bench;

/// <summary>
/// The worker for a long while under many cameras (8 looping file cameras at 25 fps by default, 10 minutes): every
/// frame taken gets its result, and resident memory, the managed heap, threads and open file handles stay flat.
/// Samples every 10 s after a warm-up minute; reports each one's least-squares slope per minute.
/// </summary>
internal static class SoakBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var cameras = options.GetInt("cameras", 8);
        var minutes = options.GetInt("minutes", 10);
        var fps = options.GetInt("fps", 25);
        var clip = WorkerBenchmark.Clip(options.GetInt("frames", 200));
        var samples = new List<(double Minute, double RssMb, double HeapMb, int Threads, int Handles)>();
        long taken, published;
        var worker = await WorkerBenchmark.RunningWorker.StartAsync(WorkerBenchmark.Model(options), clip, cameras, batch: 8, realtime: true,
            [.. Enumerable.Range(0, cameras).Select(i => $"--Inspection:Cameras:{i}:MaxFps={fps}")]);
        await using (worker)
        {
            var feeds = worker.Services.GetRequiredService<CameraFeeds>();
            Measure.Progress($"soak: {cameras} cameras looping {Path.GetFileName(clip)} at {fps} fps for {minutes} min (+1 min warm-up)");
            await Task.Delay(TimeSpan.FromMinutes(1));
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromMinutes(minutes))
            {
                var process = Process.GetCurrentProcess();
                var sample = (clock.Elapsed.TotalMinutes, process.WorkingSet64 / 1048576.0, GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0, process.Threads.Count, Directory.GetFiles("/proc/self/fd").Length);
                samples.Add(sample);
                Measure.Progress(string.Create(CultureInfo.InvariantCulture, $"{sample.Item1:0.0} min: RSS {sample.Item2:0} MB, heap {sample.Item3:0.0} MB, {sample.Item4} threads, {sample.Item5} handles, {worker.Published} results"));
                await Task.Delay(TimeSpan.FromSeconds(10));
            }

            await worker.StopAsync();
            taken = feeds.Sum(f => f.Taken);
            published = worker.Published;
        }

        Console.WriteLine($"Machine: {Measure.Machine()}.");
        Console.WriteLine($"{cameras} cameras at {fps} fps for {minutes} min: {taken} frames taken, {published} results published{(taken == published ? " (complete)" : " (INCOMPLETE)")}.");
        Console.WriteLine("| series | first | last | slope per minute |");
        Console.WriteLine("|---|---|---|---|");
        Row("resident memory (MB)", samples.Select(s => (s.Minute, s.RssMb)).ToList());
        Row("managed heap after the last GC (MB)", samples.Select(s => (s.Minute, s.HeapMb)).ToList());
        Row("threads", samples.Select(s => (s.Minute, (double)s.Threads)).ToList());
        Row("open file handles", samples.Select(s => (s.Minute, (double)s.Handles)).ToList());
    }

    private static void Row(string name, List<(double X, double Y)> points)
    {
        var meanX = points.Average(p => p.X);
        var meanY = points.Average(p => p.Y);
        var slope = points.Sum(p => (p.X - meanX) * (p.Y - meanY)) / points.Sum(p => (p.X - meanX) * (p.X - meanX));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {points[0].Y:0.0} | {points[^1].Y:0.0} | {slope:+0.00;-0.00} |"));
    }
}

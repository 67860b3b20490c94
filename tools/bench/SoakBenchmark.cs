using System.Diagnostics;
using System.Globalization;
using Inspection.Worker;
using Inspection.Worker.Observability;
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
        using var folder = new WorkerBenchmark.TemporaryFolder();
        var args = new List<string>
        {
            $"--Inspection:Model:ModelPath={WorkerBenchmark.Model(options)}",
            "--Inspection:Model:Providers:0=Cpu",
            $"--Inspection:Mqtt:EmbeddedBrokerPort={Measure.FreePort()}",
            $"--Inspection:Mqtt:Queue:Directory={Path.Combine(folder.Path, "queue")}",
            $"--Inspection:Evidence:Directory={Path.Combine(folder.Path, "evidence")}",
            $"--Inspection:Http:Url=http://127.0.0.1:{Measure.FreePort()}",
            "--Logging:LogLevel:Default=Warning",
        };
        for (var i = 0; i < cameras; i++)
        {
            args.AddRange([$"--Inspection:Cameras:{i}:Id=cam{i}", $"--Inspection:Cameras:{i}:Uri={clip}", $"--Inspection:Cameras:{i}:Loop=true",
                $"--Inspection:Cameras:{i}:Realtime=true", $"--Inspection:Cameras:{i}:MaxFps={fps}"]);
        }

        var (app, problems) = WorkerApp.Build([.. args]);
        if (app is null)
        {
            throw new InvalidOperationException(string.Join("; ", problems));
        }

        var samples = new List<(double Minute, double RssMb, double HeapMb, int Threads, int Handles)>();
        long taken, published;
        await using (app)
        {
            await app.StartAsync();
            var feeds = app.Services.GetRequiredService<CameraFeeds>();
            var metrics = app.Services.GetRequiredService<WorkerMetrics>();
            Measure.Progress($"soak: {cameras} cameras looping {Path.GetFileName(clip)} at {fps} fps for {minutes} min (+1 min warm-up)");
            await Task.Delay(TimeSpan.FromMinutes(1));
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromMinutes(minutes))
            {
                var process = Process.GetCurrentProcess();
                var sample = (clock.Elapsed.TotalMinutes, process.WorkingSet64 / 1048576.0, GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0, process.Threads.Count, Directory.GetFiles("/proc/self/fd").Length);
                samples.Add(sample);
                Measure.Progress(string.Create(CultureInfo.InvariantCulture, $"{sample.Item1:0.0} min: RSS {sample.Item2:0} MB, heap {sample.Item3:0.0} MB, {sample.Item4} threads, {sample.Item5} handles, {feeds.Sum(f => metrics.Camera(f.Id).Published)} results"));
                await Task.Delay(TimeSpan.FromSeconds(10));
            }

            await app.StopAsync();
            taken = feeds.Sum(f => f.Taken);
            published = feeds.Sum(f => metrics.Camera(f.Id).Published);
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

using System.Diagnostics;
using Inspection.Core;
using Inspection.Inference;
using Inspection.Vision;

namespace Inspection.Bench;

/// <summary>
/// What examining every frame costs: <see cref="FrameIntegrityChecker.Check"/> alone, CPU time and bytes allocated per
/// frame on decoded 640x360 and 1280x720 frames; and the worker end to end (as the worker benchmark runs it) with the
/// checks on every frame against the same worker without them, in the same run: one after the other, paired round by
/// round, and side by side. Before every frame was examined the worker checked at most 5 frames a second per camera,
/// a small share of what file sources read as fast as the worker takes them deliver; the worker without checks is the
/// upper bound of that sampling worker, so the ratio against it is, if anything, the stricter one.
/// </summary>
internal static class IntegrityBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var rounds = options.GetInt("rounds", 3);
        var seconds = options.GetDouble("seconds", 2);
        var worker = WorkerRun.From(options);
        var clips = new[] { worker.Clip, SourcesBenchmark.Prepare720p(Path.Combine(BenchOptions.Shared, "media/traffic_cKuhn517_MIT.mp4")) };
        Measure.Progress($"checks alone on the first 100 frames of each clip for {seconds} s a round; worker: {worker}; {rounds} rounds");

        var costs = clips.ToDictionary(c => c, _ => new List<(double Cpu, double Wall, double Bytes)>());
        var without = new List<double>();
        var every = new List<double>();
        var together = new List<double>();
        string[] checks = [.. Enumerable.Range(0, worker.Sources).Select(i => $"--Inspection:Cameras:{i}:Integrity:Enabled=true")];
        await worker.ThroughputAsync(checks); // warm-up, not counted
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var path in clips)
            {
                var cost = CheckCost(path, seconds);
                costs[path].Add(cost);
                Measure.Progress($"round {round}/{rounds}, {Path.GetFileName(path)}: {cost.Cpu * 1000:0} µs of CPU, {cost.Wall * 1000:0} µs, {cost.Bytes:0} bytes allocated per frame");
            }

            var (off, on) = await Measure.PairAsync(round, () => worker.ThroughputAsync(), () => worker.ThroughputAsync(checks));
            without.Add(off);
            every.Add(on);
            together.Add(await SideBySideAsync(worker, checks, checkedFirst: round % 2 == 0));
            Measure.Progress($"round {round}/{rounds}, worker: without checks {off:0} images/s, every frame checked {on:0} (ratio {on / off:0.00}); side by side {together[^1]:0.00}");
        }

        Console.WriteLine($"Machine: {Measure.Machine()}.");
        Console.WriteLine();
        Console.WriteLine("| frames | FrameIntegrityChecker.Check, CPU per frame | wall per frame | allocated per frame |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var (path, values) in costs)
        {
            var (width, height) = Size(path);
            Console.WriteLine($"| {width}x{height} | {Measure.Median(values.Select(v => v.Cpu)):0.000} ms | {Measure.Median(values.Select(v => v.Wall)):0.000} ms | {Measure.Median(values.Select(v => v.Bytes)):0} bytes |");
        }

        Console.WriteLine();
        Console.WriteLine($"Worker, {worker.Sources} file sources x {worker.Frames} frames, decode to the last result handed to the outputs, one after the other:");
        Console.WriteLine();
        Measure.PairedTable(("without checks (images/s)", without), ("every frame checked (images/s)", every), "every frame / without (target ≥ 0.97)");
        Console.WriteLine();
        Console.WriteLine($"Side by side (both workers at once; images the checking worker got through per image of the other), rounds: {string.Join(", ", together.Select(r => r.ToString("0.00")))}; median **{Measure.Median(together):0.00}**.");
    }

    /// <summary>
    /// CPU time, wall time and bytes allocated per call of <see cref="FrameIntegrityChecker.Check"/> over the first 100
    /// frames of <paramref name="clip"/>, decoded beforehand and checked in turn at 25 frames a second for
    /// <paramref name="seconds"/>: one camera's thread. The frames are not in the CPU's caches when checked again,
    /// unlike a frame the camera's decoder has just written, so this is the dearer case.
    /// </summary>
    private static (double Cpu, double Wall, double Bytes) CheckCost(string clip, double seconds)
    {
        var frames = WorkerBenchmark.Decode(clip, 100);
        var views = frames.Select(MatImage.View).ToArray();
        var checker = new FrameIntegrityChecker(new IntegrityOptions());
        var (timestamp, tick) = (Stopwatch.GetTimestamp(), Stopwatch.Frequency / 25);
        foreach (var view in views)
        {
            checker.Check(view, timestamp += tick); // warm-up: sizes the buffers, compiles the vector code
        }

        var (cpu, allocated, flagged, checks) = (Measure.CpuTime(), GC.GetAllocatedBytesForCurrentThread(), 0, 0);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            flagged += checker.Check(views[checks++ % views.Length], timestamp += tick) == FrameIntegrity.Ok ? 0 : 1;
        }

        var wall = clock.Elapsed;
        var bytes = GC.GetAllocatedBytesForCurrentThread() - allocated;
        var used = Measure.CpuTime() - cpu;
        frames.ForEach(f => f.Dispose());
        if (flagged > 0)
        {
            throw new InvalidOperationException($"{flagged} of {checks} frames of a normal street video were flagged; the benchmark measures the checks on good frames.");
        }

        return (used.TotalMilliseconds / checks, wall.TotalMilliseconds / checks, (double)bytes / checks);
    }

    /// <summary>
    /// The worker without checks and the worker checking every frame at once, on the same machine at the same moments:
    /// whatever else runs there weighs on both alike, and the two share the cores, so the images each gets through while
    /// both run follow what an image costs each. Counted from when both have started until either has inspected all its
    /// frames; returns the checking worker's count over the other's. The one started first alternates.
    /// </summary>
    private static async Task<double> SideBySideAsync(WorkerRun run, string[] checks, bool checkedFirst)
    {
        await using var first = await run.StartAsync(checkedFirst ? checks : null);
        await using var second = await run.StartAsync(checkedFirst ? null : checks);
        var (firstStart, secondStart) = (first.Published, second.Published);
        await Measure.ReachedAsync(() => Math.Max(first.Published, second.Published), run.Results);

        var (a, b) = ((double)(first.Published - firstStart), (double)(second.Published - secondStart));
        return checkedFirst ? a / b : b / a;
    }

    private static (int Width, int Height) Size(string clip)
    {
        using var capture = new OpenCvSharp.VideoCapture(clip);
        return (capture.FrameWidth, capture.FrameHeight);
    }
}

using System.Diagnostics;
using System.Globalization;

namespace Inspection.Bench;

/// <summary>Throughput measurement: repeated timed runs, interleaved across rounds, reported as medians.</summary>
internal static class Measure
{
    /// <summary>Images per second of <paramref name="step"/>, which handles <paramref name="imagesPerStep"/> images a call.</summary>
    public static double ImagesPerSecond(Action step, int imagesPerStep, double seconds)
    {
        for (var i = 0; i < 3; i++)
        {
            step(); // warm-up: pools, caches, ONNX Runtime's arena
        }

        var clock = Stopwatch.StartNew();
        var steps = 0;
        while (clock.Elapsed.TotalSeconds < seconds || steps < 5)
        {
            step();
            steps++;
        }

        return steps * imagesPerStep / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// <see cref="ImagesPerSecond"/> with <paramref name="threads"/> threads stepping at once (thread i runs
    /// <paramref name="stepOf"/>(i)), as the worker's detector lanes do: all the images they did over the same time.
    /// </summary>
    public static double ImagesPerSecondOnThreads(int threads, Func<int, Action> stepOf, int imagesPerStep, double seconds)
    {
        var steps = new long[threads];
        var clock = new Stopwatch();
        var ready = new Barrier(threads, _ => clock.Start());
        RunOnThreads(threads, i =>
        {
            var step = stepOf(i);
            for (var w = 0; w < 3; w++)
            {
                step();
            }

            ready.SignalAndWait();
            while (clock.Elapsed.TotalSeconds < seconds || steps[i] < 5)
            {
                step();
                steps[i]++;
            }
        });
        return steps.Sum() * imagesPerStep / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Runs <paramref name="body"/>(0 .. <paramref name="threads"/>-1), each on a thread of its own, and waits for all.</summary>
    public static void RunOnThreads(int threads, Action<int> body)
    {
        var started = Enumerable.Range(0, threads).Select(i => new Thread(() => body(i)) { Name = $"bench lane {i}" }).ToList();
        started.ForEach(t => t.Start());
        started.ForEach(t => t.Join());
    }

    /// <summary>
    /// Waits until <paramref name="count"/> reaches <paramref name="target"/> and returns that moment (a Stopwatch
    /// timestamp, within 2 ms). It sleeps most of the way, by the rate counted so far, and polls often only for the last
    /// fifth of a second: polling all along woke a thread-pool thread and the timer thread hundreds of times a second,
    /// which took the cores from the ONNX Runtime threads of the worker being measured.
    /// </summary>
    public static async Task<long> ReachedAsync(Func<long> count, long target)
    {
        var (start, from) = (Stopwatch.GetTimestamp(), count());
        while (true)
        {
            var now = count();
            if (now >= target)
            {
                return Stopwatch.GetTimestamp();
            }

            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var remaining = now > from ? (target - now) / ((now - from) / elapsed) : 1;
            await Task.Delay(remaining > 0.2 ? TimeSpan.FromSeconds(Math.Min(remaining / 2, 1)) : TimeSpan.FromMilliseconds(2));
        }
    }

    /// <summary>
    /// Runs the two measurements of a pair, the first one first in odd rounds and second in even ones, so that a
    /// machine that warms up or slows down during a round weighs on both alike; each starts on a collected heap, so
    /// neither pays for the garbage of what ran before it.
    /// </summary>
    public static async Task<(double First, double Second)> PairAsync(int round, Func<Task<double>> first, Func<Task<double>> second)
    {
        if (round % 2 == 1)
        {
            var a = await Collected(first);
            return (a, await Collected(second));
        }

        var b = await Collected(second);
        return (await Collected(first), b);
    }

    private static Task<double> Collected(Func<Task<double>> measure)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return measure();
    }

    /// <summary>One row per round and the medians: the two paths and the paired ratio of the second to the first.</summary>
    public static void PairedTable((string Name, List<double> Values) first, (string Name, List<double> Values) second, string ratio)
    {
        var ratios = first.Values.Zip(second.Values, (a, b) => b / a).ToList();
        Console.WriteLine($"| round | {first.Name} | {second.Name} | {ratio} |");
        Console.WriteLine("|---|---|---|---|");
        for (var i = 0; i < ratios.Count; i++)
        {
            Console.WriteLine($"| {i + 1} | {first.Values[i]:0} | {second.Values[i]:0} | {ratios[i]:0.00} |");
        }

        Console.WriteLine($"| median | {Median(first.Values):0} | {Median(second.Values):0} | **{Median(ratios):0.00}** |");
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>User and system time of this process plus its reaped children (ffmpeg), from /proc/self/stat.</summary>
    public static TimeSpan CpuTime()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = fields.Skip(11).Take(4).Sum(f => long.Parse(f, CultureInfo.InvariantCulture)); // utime, stime, cutime, cstime
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    /// <summary>A one-line description of this machine for benchmark reports.</summary>
    public static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return $"{cpu ?? "unknown CPU"}, {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}";
    }

    /// <summary>The first <paramref name="frames"/> frames of <paramref name="source"/> as H.264 (made once, kept in /tmp).</summary>
    public static string Clip(string source, string path, int frames, params string[] filters)
    {
        if (File.Exists(path))
        {
            return path;
        }

        Progress($"encoding {Path.GetFileName(path)} with ffmpeg");
        var start = new ProcessStartInfo("ffmpeg") { UseShellExecute = false };
        foreach (var arg in (string[])["-hide_banner", "-loglevel", "error", "-y", "-i", source, "-frames:v", frames.ToString(System.Globalization.CultureInfo.InvariantCulture), .. filters, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an", path])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new Core.InspectionInputException("ffmpeg could not encode the benchmark video; is ffmpeg installed (tools/install-deps.sh)?");
        }

        return path;
    }

    /// <summary>A TCP port on 127.0.0.1 that nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static void Progress(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}

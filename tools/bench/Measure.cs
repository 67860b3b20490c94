using System.Diagnostics;

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

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
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

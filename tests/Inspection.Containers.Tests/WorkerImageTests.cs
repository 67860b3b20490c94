using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Containers.Tests;

/// <summary>
/// CI's one container smoke test: the CPU worker image (built here FROM the minimal Debian 12 base, or reused when
/// its inputs did not change) detects like the CLI outside it, publishes to a broker on the host and stops cleanly.
/// </summary>
[Collection("Containers")]
public sealed class WorkerImageTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [SkippableFact]
    public async Task Cpu_image_detects_as_outside_publishes_to_a_host_broker_and_stops_cleanly()
    {
        var model = SharedData.Require("models/yolov8n-int8-coco/yolov8n_int8.onnx");
        var bus = SharedData.Require("media/bus.jpg");
        var image = await Podman.ImageAsync("cpu");

        // The worker image carries neither libtorch nor, for CPU hosts, ONNX Runtime's CUDA and TensorRT providers.
        var files = await Podman.RunAsync("run", "--rm", "--entrypoint", "ls", image, "/app");
        Assert.True(files.ExitCode == 0, files.ToString());
        Assert.Contains("libonnxruntime.so", files.Lines);
        Assert.DoesNotContain(files.Lines, f => f.StartsWith("libtorch", StringComparison.Ordinal) || f.StartsWith("libonnxruntime_providers_cuda", StringComparison.Ordinal) || f.StartsWith("libonnxruntime_providers_tensorrt", StringComparison.Ordinal));

        // (a) inspection detect in the container gives what it gives outside (the reference detections, see DetectCommandTests).
        var outside = await CliRunner.RunAsync("detect", "--model", model, "--source", bus, "--iou", "0.7", "--json");
        Assert.True(outside.ExitCode == 0, outside.Stderr);
        var inside = await Podman.RunAsync(
            [
                "run", "--rm", .. Podman.HostNetwork, "-v", $"{Path.GetDirectoryName(model)}:/models:ro", "-v", $"{Path.GetDirectoryName(bus)}:/media:ro",
                "--entrypoint", "inspection", image, "detect", "--model", "/models/yolov8n_int8.onnx", "--source", "/media/bus.jpg", "--iou", "0.7", "--json",
            ]);
        Assert.True(inside.ExitCode == 0, inside.ToString());
        var expected = Detections(outside.Stdout);
        Assert.Equal(5, expected.Count);
        Assert.Equal(expected, Detections(inside.Stdout));

        // (b) the worker, configured by environment only, publishes the bundled demo's results to mosquitto on the host.
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        var httpPort = ServerProcess.FreePort();
        using var subscriber = Subscribe(broker.Port, results: 3);
        var watch = Stopwatch.StartNew();
        using var worker = await Container.StartAsync(image,
        [
            "-v", $"{Podman.DataFolder(_folder)}:/data",
            "-e", "Inspection__Mqtt__Host=127.0.0.1", "-e", $"Inspection__Mqtt__Port={broker.Port}",
            "-e", $"Inspection__Http__Url=http://127.0.0.1:{httpPort}",
            "-e", $"Inspection__Web__Url=http://127.0.0.1:{ServerProcess.FreePort()}",
        ]);
        var published = await subscriber.StandardOutput.ReadToEndAsync();
        await subscriber.WaitForExitAsync();
        Assert.True(subscriber.ExitCode == 0, $"mosquitto_sub got no 3 results ({subscriber.ExitCode}): {published}\n{await worker.LogsAsync()}");
        var results = published.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, results.Length);
        foreach (var result in results)
        {
            using var json = JsonDocument.Parse(result[(result.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
            Assert.Contains(json.RootElement.GetProperty("verdict").GetString(), new[] { "OK", "NG", "UNKNOWN" });
        }

        Console.WriteLine($"container start to the first 3 results: {watch.Elapsed.TotalSeconds:0.0} s");

        // (c) podman stop: SIGTERM, the pipeline drains, exit 0 well within the grace time.
        watch.Restart();
        var exit = await worker.StopAsync(TimeSpan.FromSeconds(30));
        var logs = await worker.LogsAsync();
        Assert.True(exit == 0, $"the worker exited with {exit} on podman stop:\n{logs}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(25), $"podman stop took {watch.Elapsed}:\n{logs}");
        Assert.Contains("Pipeline drained in", logs);
    }

    /// <summary>mosquitto_sub on the demo camera's results, ending after <paramref name="results"/> of them or 120 s.</summary>
    internal static Process Subscribe(int port, int results)
    {
        var start = new ProcessStartInfo("mosquitto_sub", ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-t", "inspection/+/+/demo/result", "-v", "-q", "1", "-C", results.ToString(CultureInfo.InvariantCulture), "-W", "120"])
        {
            RedirectStandardOutput = true,
        };
        return Process.Start(start)!;
    }

    /// <summary>Class, score and box of each detection, rounded where two runs of the same binaries on one CPU could differ.</summary>
    private static List<string> Detections(string jsonLine)
    {
        using var json = JsonDocument.Parse(jsonLine.Trim());
        return [.. json.RootElement.GetProperty("detections").EnumerateArray().Select(d => string.Create(CultureInfo.InvariantCulture,
            $"{d.GetProperty("class").GetString()} {d.GetProperty("score").GetDouble():0.000} [{string.Join(' ', d.GetProperty("box").EnumerateArray().Select(v => v.GetDouble().ToString("0", CultureInfo.InvariantCulture)))}]"))];
    }
}

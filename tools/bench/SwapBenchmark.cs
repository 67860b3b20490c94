using System.Diagnostics;
using System.Globalization;
using Inspection.Models;
using Inspection.Worker;
using Inspection.Worker.Serving;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;

namespace Inspection.Bench;

/// <summary>
/// The pause a model swap causes: a worker following a registry inspects one camera at the video's own pace
/// while the current version is changed back and forth; the longest gap between two of the camera's results
/// around each swap is reported against the gaps of the same run away from any swap.
/// </summary>
internal static class SwapBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var swaps = options.GetInt("swaps", 6);
        var model = options.Get("model", Path.Combine(BenchOptions.RepositoryRoot(), "models/workpiece-crack/workpiece-crack-yolov8n-320.onnx"));
        var clip = Measure.Clip(Path.Combine(BenchOptions.Shared, "media/traffic_cKuhn517_MIT.mp4"), Path.Combine(Path.GetTempPath(), "inspection-bench-clip-200.mp4"), 200);
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "inspection-bench-swap-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var registry = new ModelRegistry(Path.Combine(root, "registry"));
            var card = new ModelCard { Name = "bench", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
            registry.Register("bench", model, card);
            registry.Register("bench", model, card);
            registry.Promote("bench", 1);
            var brokerPort = Measure.FreePort();
            string[] args =
            [
                $"--Inspection:Model:Registry={registry.Root}", "--Inspection:Model:Name=bench", "--Inspection:Model:Providers:0=Cpu",
                "--Inspection:Model:RegistryPollInterval=00:00:00.100", $"--Inspection:Mqtt:EmbeddedBrokerPort={brokerPort}",
                $"--Inspection:Mqtt:Queue:Directory={Path.Combine(root, "queue")}", "--Inspection:Evidence:Enabled=false",
                $"--Inspection:Http:Url=http://127.0.0.1:{Measure.FreePort()}", "--Logging:LogLevel:Default=Warning",
                "--Inspection:Cameras:0:Id=cam", $"--Inspection:Cameras:0:Uri={clip}", "--Inspection:Cameras:0:Loop=true", "--Inspection:Cameras:0:Integrity:Enabled=false",
            ];
            var (app, problems) = WorkerApp.Build(args);
            if (app is null)
            {
                throw new InvalidOperationException(string.Join("; ", problems));
            }

            var arrivals = new List<long>();
            await using (app)
            {
                await app.StartAsync();
                var host = app.Services.GetRequiredService<ModelHost>();
                using var client = new MqttClientFactory().CreateMqttClient();
                client.ApplicationMessageReceivedAsync += _ =>
                {
                    lock (arrivals)
                    {
                        arrivals.Add(Stopwatch.GetTimestamp());
                    }

                    return Task.CompletedTask;
                };
                await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", brokerPort).WithClientId("bench").Build());
                await client.SubscribeAsync("inspection/+/+/cam/result");
                await Task.Delay(TimeSpan.FromSeconds(5)); // the normal rhythm
                var swapTimes = new List<long>();
                for (var i = 0; i < swaps; i++)
                {
                    var target = host.Serving.RegistryVersion == 1 ? 2 : 1;
                    swapTimes.Add(Stopwatch.GetTimestamp());
                    registry.Promote("bench", target);
                    while (host.Serving.RegistryVersion != target)
                    {
                        await Task.Delay(10);
                    }

                    Measure.Progress($"swap {i + 1}/{swaps}: version {target} serving after {Stopwatch.GetElapsedTime(swapTimes[^1]).TotalMilliseconds:0} ms");
                    await Task.Delay(TimeSpan.FromSeconds(4));
                }

                await app.StopAsync();
                Report(arrivals, swapTimes);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Gaps within 3 s after a swap started belong to it; the rest are the normal gaps.</summary>
    private static void Report(List<long> arrivals, List<long> swaps)
    {
        var window = 3 * Stopwatch.Frequency;
        var normal = new List<double>();
        var around = swaps.Select(_ => 0.0).ToArray();
        for (var i = 1; i < arrivals.Count; i++)
        {
            var gap = (arrivals[i] - arrivals[i - 1]) * 1000.0 / Stopwatch.Frequency;
            var swap = swaps.FindIndex(s => arrivals[i] >= s && arrivals[i - 1] <= s + window);
            if (swap >= 0)
            {
                around[swap] = Math.Max(around[swap], gap);
            }
            else
            {
                normal.Add(gap);
            }
        }

        var sorted = normal.Order().ToArray();
        double At(double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
        Console.WriteLine($"Machine: {Measure.Machine()}.");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Normal gaps between results ({sorted.Length}): p50 {At(0.5):0.0} ms, p99 {At(0.99):0.0} ms, max {sorted[^1]:0.0} ms."));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Longest gap around each of {swaps.Count} swaps: {string.Join(", ", around.Select(g => g.ToString("0.0", CultureInfo.InvariantCulture)))} ms; worst / normal p50 = {around.Max() / At(0.5):0.00}, worst / normal max = {around.Max() / sorted[^1]:0.00}."));
    }
}

using System.Diagnostics;
using System.Globalization;
using Inspection.Inference;
using Inspection.Models;
using Inspection.Worker;
using Inspection.Worker.Observability;
using Inspection.Worker.Serving;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;

namespace Inspection.Bench;

/// <summary>
/// The pause a model swap causes: a worker following a registry inspects one camera at the video's own pace
/// while the current version is changed back and forth; the longest gap between two of the camera's results
/// around each swap is reported against the gaps of the same run away from any swap. The versions are signed
/// and carry a golden set, and the worker has the public key, so each swap makes every check a production swap
/// makes; the time of each check per swap is read from the worker's inspection_model_check_seconds, and the
/// signature check is also timed alone.
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
            var golden = await GoldenAsync(model);
            var keys = SigningKeys.Generate(Path.Combine(root, "keys"));
            using (var key = SigningKeys.LoadPrivateKey(keys.PrivateKeyPath))
            {
                for (var i = 0; i < 2; i++)
                {
                    ModelSignature.Sign(registry.Register("bench", model, card, writeGoldenSet: folder => GoldenSet.Create(folder, golden)), key);
                }
            }

            registry.Promote("bench", 1);
            var brokerPort = Measure.FreePort();
            string[] args =
            [
                $"--Inspection:Model:Registry={registry.Root}", "--Inspection:Model:Name=bench", .. BenchOptions.WorkerDevice(),
                $"--Inspection:Model:PublicKeyFile={keys.PublicKeyPath}", "--Inspection:Model:HeartbeatInterval=00:00:00",
                "--Inspection:Model:RegistryPollInterval=00:00:00.100", $"--Inspection:Mqtt:EmbeddedBrokerPort={brokerPort}",
                $"--Inspection:Mqtt:Queue:Directory={Path.Combine(root, "queue")}", $"--Inspection:Web:KeysDirectory={Path.Combine(root, "web-keys")}", "--Inspection:Evidence:Enabled=false",
                $"--Inspection:Http:Url=http://127.0.0.1:{Measure.FreePort()}", $"--Inspection:Web:Url=http://127.0.0.1:{Measure.FreePort()}", "--Logging:LogLevel:Default=Warning",
                "--Inspection:Cameras:0:Id=cam", $"--Inspection:Cameras:0:Uri={clip}", "--Inspection:Cameras:0:Loop=true", "--Inspection:Cameras:0:Integrity:Enabled=false",
            ];
            var (app, problems) = WorkerApp.Build(BenchOptions.WithSettings(args));
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
                ReportChecks(app.Services.GetRequiredService<WorkerMetrics>(), registry.Get("bench", 1), keys.PublicKeyPath);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The golden set the versions carry: what the model finds on two of its demo pictures.</summary>
    private static async Task<List<(string, IReadOnlyList<GoldenDetection>)>> GoldenAsync(string model)
    {
        var pictures = Directory.GetFiles(Path.Combine(BenchOptions.RepositoryRoot(), "models/workpiece-crack/demo"), "*.jpg").Order(StringComparer.Ordinal).Take(2);
        await using var detector = YoloDetector.Open(BenchOptions.Detector(model));
        return [.. pictures.Select(p => (p, GoldenCheck.Detect(detector, p)))];
    }

    /// <summary>
    /// Each check's mean time per swap in the worker (the starting version's included), and the signature check
    /// alone: 20 verifications of one version in a row, after one uncounted (files in the page cache, as after a
    /// promotion).
    /// </summary>
    private static void ReportChecks(WorkerMetrics metrics, RegisteredModel version, string publicKeyFile)
    {
        foreach (var check in new[] { "signature", "process", "load" })
        {
            var child = metrics.ModelChecks.WithLabels(check);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Check '{check}' in the worker: {child.Sum / child.Count * 1000:0.0} ms per swap (mean of {child.Count})."));
        }

        using var publicKey = SigningKeys.LoadPublicKey(publicKeyFile);
        ModelSignature.Verify(version, publicKey);
        var times = Enumerable.Range(0, 20).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            ModelSignature.Verify(version, publicKey);
            return clock.Elapsed.TotalMilliseconds;
        }).Order().ToArray();
        var bytes = ModelSignature.Statement(version).Files.Keys.Sum(f => new FileInfo(Path.Combine(version.Folder, f)).Length);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Signature check alone ({bytes / 1e6:0.0} MB hashed, one ECDSA P-256 verification): median {times[times.Length / 2]:0.0} ms, max {times[^1]:0.0} ms over {times.Length}."));
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

using System.Globalization;
using Inspection.TestSupport;

namespace Inspection.Containers.Tests;

/// <summary>
/// The heavy container proofs, run with tools/test.sh --full (INSPECTION_FULL=1): the GPU-flavour and trainer
/// images, a read-only root, the HEALTHCHECK, and bad input at container level.
/// </summary>
[Collection("Containers")]
public sealed class FullImageTests : IDisposable
{
    private const string FullOnly = "builds and runs more images: tools/test.sh --full (INSPECTION_FULL=1)";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [SkippableFact]
    public async Task Gpu_flavour_builds_and_runs_the_demo_on_the_cpu_with_one_line_saying_so()
    {
        Skip.IfNot(TestScale.Full, FullOnly);
        var image = await Podman.ImageAsync("gpu");
        var files = await Podman.RunAsync("run", "--rm", "--entrypoint", "ls", image, "/app");
        Assert.Contains("libonnxruntime_providers_cuda.so", files.Lines);
        Assert.DoesNotContain(files.Lines, f => f.StartsWith("libtorch", StringComparison.Ordinal));

        using var worker = await Container.StartAsync(image, DemoOptions(out var httpPort));
        var fallback = await worker.WaitForLineAsync("Running on Cpu", TimeSpan.FromSeconds(90));
        Assert.Contains("Cuda", fallback); // names what could not load (no CUDA 13 here)
        await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));
        Assert.Single((await worker.LogsAsync()).Split('\n'), l => l.Contains("unavailable", StringComparison.Ordinal));
        Assert.Equal(0, await worker.StopAsync(TimeSpan.FromSeconds(30)));
    }

    [SkippableFact]
    public async Task Trainer_image_trains_one_epoch_of_a_tiny_dataset()
    {
        Skip.IfNot(TestScale.Full, FullOnly);
        var dataset = TinyDataset();
        var data = Podman.DataFolder(_folder);
        var image = await Podman.ImageAsync("trainer");

        var train = await Podman.RunAsync(TimeSpan.FromMinutes(15),
        [
            "run", "--rm", .. Podman.HostNetwork, "-v", $"{dataset}:/dataset:ro", "-v", $"{data}:/data",
            image, "train", "--data", "/dataset/data.yaml", "--epochs", "1", "--imgsz", "160", "--batch", "4", "--out", "/data/run",
        ]);

        Assert.True(train.ExitCode == 0, train.ToString());
        Assert.Contains("1 epochs: mAP50", train.Stdout);
        Assert.True(File.Exists(Path.Combine(data, "run", "weights", "best.weights")), train.ToString());
    }

    [SkippableFact]
    public async Task Worker_runs_with_a_read_only_root_and_its_healthcheck_reports_healthy()
    {
        Skip.IfNot(TestScale.Full, FullOnly);
        var image = await Podman.ImageAsync("cpu");
        var data = Podman.DataFolder(_folder);
        using var worker = await Container.StartAsync(image, ["--read-only", "-v", $"{data}:/data", .. DemoOptions(out var httpPort)]);
        await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(90));

        using var http = new HttpClient();
        await Waiting.WaitUntil(() => Inspected(http, httpPort) > 3, "frames inspected under a read-only root", TimeSpan.FromSeconds(60), () => worker.LogsAsync().GetAwaiter().GetResult());
        Assert.True(Directory.EnumerateFileSystemEntries(data).Any(), "the worker wrote nothing under /data");

        var health = await Podman.RunAsync("healthcheck", "run", worker.Name);
        Assert.True(health.ExitCode == 0, $"podman healthcheck run: {health}");
        var status = await Podman.RunAsync("inspect", "--format", "{{.State.Health.Status}}", worker.Name);
        Assert.Equal("healthy", status.Stdout.Trim());

        Assert.Equal(0, await worker.StopAsync(TimeSpan.FromSeconds(30)));
    }

    /// <summary>Bad input at container level: one clear line and exit 2.</summary>
    [SkippableTheory]
    [InlineData("missing configuration file", "/config/worker.json")]
    [InlineData("malformed configuration file", "worker.json")]
    [InlineData("missing model volume", "/models/line-1.onnx")]
    [InlineData("read-only data volume", "/data")]
    public async Task Bad_input_ends_the_container_with_one_line_and_exit_2(string problem, string named)
    {
        Skip.IfNot(TestScale.Full, FullOnly);
        var image = await Podman.ImageAsync("cpu");
        var config = Directory.CreateDirectory(_folder.File("config")).FullName;
        File.WriteAllText(Path.Combine(config, "worker.json"), "{ \"Inspection\": { \"Http\": { \"Url\": ");
        string[] options = problem switch
        {
            "missing configuration file" => ["-e", "INSPECTION_CONFIG=/config/worker.json"],
            "malformed configuration file" => ["-v", $"{config}:/config:ro", "-e", "INSPECTION_CONFIG=/config/worker.json"],
            "missing model volume" => ["-e", "Inspection__Model__ModelPath=/models/line-1.onnx"],
            _ => ["-v", $"{Podman.DataFolder(_folder)}:/data:ro"],
        };

        var run = await Podman.RunAsync(TimeSpan.FromMinutes(2), ["run", "--rm", .. Podman.HostNetwork, .. options, .. DemoOptions(out _), image]);

        Assert.True(run.ExitCode == 2, $"{problem}: {run}");
        Assert.DoesNotContain("   at ", run.Stderr);
        // One line per problem (a read-only volume is two: the queue's folder and the evidence's), and at most a heading.
        var reasons = run.Lines.Where(l => l.Contains(named, StringComparison.Ordinal)).ToList();
        Assert.True(reasons.Count >= 1 && run.Lines.Count <= reasons.Count + 1, $"{problem}: not one line per problem naming {named}:\n{run}");
    }

    /// <summary>
    /// The worker image has no libtorch: its CLI refuses to train in one line that points to the trainer image (the
    /// explanation is the CLI's; this shows it reaches a user of the image).
    /// </summary>
    [SkippableFact]
    public async Task Worker_image_cli_refuses_training_in_one_line_naming_the_trainer_image()
    {
        Skip.IfNot(TestScale.Full, FullOnly);
        var dataset = TinyDataset();
        var image = await Podman.ImageAsync("cpu");

        var train = await Podman.RunAsync(["run", "--rm", .. Podman.HostNetwork, "-v", $"{dataset}:/dataset:ro", "--entrypoint", "inspection", image, "train", "--data", "/dataset/data.yaml", "--epochs", "1", "--out", "/tmp/run"]);

        Assert.True(train.ExitCode == 2, train.ToString());
        Assert.Contains("trainer", Assert.Single(train.Lines), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A tiny subset of the shared workpiece-crack dataset (8 training and 4 validation pictures) in YOLO layout.</summary>
    private string TinyDataset()
    {
        var source = SharedData.Require("datasets/workpiece-crack");
        var dataset = Directory.CreateDirectory(_folder.File("dataset")).FullName;
        foreach (var (split, count) in new[] { ("train", 8), ("val", 4) })
        {
            var images = Directory.CreateDirectory(Path.Combine(dataset, split, "images")).FullName;
            var labels = Directory.CreateDirectory(Path.Combine(dataset, split, "labels")).FullName;
            // The shared copy keeps each label beside its picture in {split}/images.
            var pictures = Directory.GetFiles(Path.Combine(source, split, "images"), "*.jpg").Where(p => !Path.GetFileName(p).StartsWith("._", StringComparison.Ordinal)).Order().Take(count).ToList();
            Assert.Equal(count, pictures.Count);
            foreach (var picture in pictures)
            {
                File.Copy(picture, Path.Combine(images, Path.GetFileName(picture)));
                File.Copy(Path.ChangeExtension(picture, ".txt"), Path.Combine(labels, Path.GetFileNameWithoutExtension(picture) + ".txt"));
            }
        }

        File.WriteAllText(Path.Combine(dataset, "data.yaml"), "train: train/images\nval: val/images\nnames: ['crack']\n");
        return dataset;
    }

    /// <summary>The demo with an HTTP port and an embedded broker port of its own (the host's network is shared).</summary>
    private static string[] DemoOptions(out int httpPort)
    {
        httpPort = ServerProcess.FreePort();
        return
        [
            "-e", $"Inspection__Http__Url=http://0.0.0.0:{httpPort}",
            "-e", $"Inspection__Web__Url=http://127.0.0.1:{ServerProcess.FreePort()}",
            "-e", $"Inspection__Mqtt__EmbeddedBrokerPort={ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture)}",
        ];
    }

    private static double Inspected(HttpClient http, int port)
    {
        try
        {
            var metrics = http.GetStringAsync($"http://127.0.0.1:{port}/metrics").GetAwaiter().GetResult();
            var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("inspection_frames_inspected_total{", StringComparison.Ordinal));
            return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }
}

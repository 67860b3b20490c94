using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Inspection.TestSupport;
using static Inspection.TestSupport.Waiting;

namespace Inspection.Worker.Tests;

/// <summary>
/// What a new installation meets first: a native library the system lacks, a data volume mounted read-only, logs
/// wanted as JSON. Each is one clear line (and exit code 2), never a stack trace, and nothing queued is lost.
/// </summary>
public sealed partial class InstallationTests
{
    private const string Line = "inspection/plant1/lineA";

    [Fact]
    public async Task A_native_library_that_cannot_be_loaded_is_one_line_naming_the_debian_package_for_the_worker_and_the_cli()
    {
        // A broken libatomic.so.1 first on the loader's path stands in for the one a minimal Debian lacks: OpenCV's
        // native library then fails to load exactly as it does there, naming the library it needs.
        using var folder = new TempFolder();
        var libraries = Directory.CreateDirectory(folder.File("lib")).FullName;
        File.WriteAllBytes(Path.Combine(libraries, "libatomic.so.1"), []);

        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string> { ["LD_LIBRARY_PATH"] = libraries });
        Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(60)));
        var line = Assert.Single(worker.Lines, l => l.Contains("libatomic", StringComparison.Ordinal));
        Assert.Contains("install the Debian package libatomic1", line, StringComparison.Ordinal);
        Assert.DoesNotContain(worker.Lines, l => l.Contains("   at ", StringComparison.Ordinal));

        var cli = await RunCliAsync(libraries, "detect", "--model", SharedData.Require("models/ultralytics-pretrained/yolov8n.onnx"), "--source", SharedData.Require("media/bus.jpg"));
        Assert.Equal(2, cli.ExitCode);
        Assert.Contains("OpenCvSharpExtern cannot be loaded: libatomic.so.1, which it needs, is broken", cli.Stderr, StringComparison.Ordinal);
        Assert.Contains("install the Debian package libatomic1", cli.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", cli.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_read_only_queue_volume_stops_the_worker_with_one_line_and_the_results_queued_on_it_are_sent_later()
    {
        using var folder = new TempFolder();
        var volume = Directory.CreateDirectory(folder.File("volume")).FullName;
        var mounted = Shell.Run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", volume);
        Skip.If(mounted != 0 && !SharedData.InCi, "cannot mount a tmpfs here (not root?)");
        Assert.Equal(0, mounted);
        try
        {
            // The broker is down: the first run keeps its results in the queue on the volume.
            var port = ServerProcess.FreePort();
            var settings = InProcessSettings.Demo(folder, port, cameras: ["cam1"], fps: 10);
            settings["Inspection:Mqtt:Queue:Directory"] = Path.Combine(volume, "queue");
            using (var first = WorkerProcess.Start(folder.Path, settings))
            {
                await WaitUntil(() => QueuedBytes(volume) > 4096, "results queued on the volume", TimeSpan.FromSeconds(60));
                Assert.Equal(0, first.Terminate(TimeSpan.FromSeconds(30)));
            }

            var firstRun = RunIn(Path.Combine(volume, "queue"));
            var before = Fingerprint(volume);
            Assert.Equal(0, Shell.Run("mount", "-o", "remount,ro", volume));
            using (var refused = WorkerProcess.Start(folder.Path, settings))
            {
                Assert.Equal(2, refused.WaitForExit(TimeSpan.FromSeconds(60)));
                var line = Assert.Single(refused.Lines, l => l.Contains("Inspection:Mqtt:Queue:Directory", StringComparison.Ordinal));
                Assert.Contains("cannot be written (Read-only file system)", line, StringComparison.Ordinal);
                Assert.DoesNotContain(refused.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
            }

            Assert.Equal(0, Shell.Run("mount", "-o", "remount,rw", volume));
            Assert.Equal(before, Fingerprint(volume));

            // Writable again, with the broker up: what the first run queued arrives.
            using var broker = ServerProcess.MosquittoOnPort(folder.Path, port);
            using var subscriber = new MosquittoSub(port, $"{Line}/+/result", "queued-results", "-q", "1");
            await Task.Delay(500);
            using var second = WorkerProcess.Start(folder.Path, settings);
            await WaitUntil(() => subscriber.Lines.Any(l => l.Contains(firstRun, StringComparison.Ordinal)), "a result of the first run", TimeSpan.FromSeconds(60));
            Assert.Equal(0, second.Terminate(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            Shell.Run("umount", "-l", volume);
        }
    }

    [Fact]
    public async Task Logs_come_as_json_lines_when_asked_and_an_unknown_log_format_is_refused()
    {
        using var folder = new TempFolder();
        var settings = InProcessSettings.Demo(folder, ServerProcess.FreePort(), cameras: ["cam1"]);
        settings["Logging:Console:FormatterName"] = "json";
        using (var worker = WorkerProcess.Start(folder.Path, settings))
        {
            await worker.WaitForLineAsync("Inspecting cam1", TimeSpan.FromSeconds(60));
            Assert.Equal(0, worker.Terminate(TimeSpan.FromSeconds(30)));
            Assert.NotEmpty(worker.Lines);
            foreach (var line in worker.Lines)
            {
                using var json = JsonDocument.Parse(line);
                Assert.True(DateTimeOffset.TryParse(json.RootElement.GetProperty("Timestamp").GetString(), out _), line);
                Assert.NotEmpty(json.RootElement.GetProperty("Category").GetString()!);
                Assert.NotNull(json.RootElement.GetProperty("Message").GetString());
            }
        }

        settings["Logging:Console:FormatterName"] = "jsno";
        using var refused = WorkerProcess.Start(folder.Path, settings);
        Assert.Equal(2, refused.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains(refused.Lines, l => l.Contains("Logging:Console:FormatterName: 'jsno' is not a console log format", StringComparison.Ordinal));
    }

    /// <summary>The run id in the results a worker queued (the segments hold the MQTT payloads as they are).</summary>
    private static string RunIn(string queue) => Directory.EnumerateFiles(queue)
        .Select(f => RunId().Match(System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(f))))
        .First(m => m.Success).Groups[1].Value;

    private static long QueuedBytes(string volume) =>
        Directory.Exists(Path.Combine(volume, "queue")) ? Directory.EnumerateFiles(Path.Combine(volume, "queue")).Sum(f => new FileInfo(f).Length) : 0;

    private static string Fingerprint(string folder) => string.Join("\n", Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(f => $"{Path.GetRelativePath(folder, f)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))}"));

    private static async Task<CliRunner.Result> RunCliAsync(string libraries, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = SharedData.RepositoryRoot };
        start.ArgumentList.Add(CliRunner.CliPath);
        args.ToList().ForEach(start.ArgumentList.Add);
        start.Environment["LD_LIBRARY_PATH"] = libraries;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return new CliRunner.Result(process.ExitCode, await stdout, await stderr);
    }

    [System.Text.RegularExpressions.GeneratedRegex("\"run\":\"([0-9a-f-]{36})\"")]
    private static partial System.Text.RegularExpressions.Regex RunId();
}

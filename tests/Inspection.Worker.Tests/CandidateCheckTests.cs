using System.Diagnostics;
using System.Globalization;
using Inspection.Core;
using Inspection.Inference;
using Inspection.Models;
using Inspection.TestSupport;
using Inspection.Worker.Serving;

namespace Inspection.Worker.Tests;

/// <summary>
/// Candidates are checked in a child process first: a sound one is admitted, a broken one refused with the
/// child's reason, and a child that hangs or dies costs the candidate a refusal while the worker goes on.
/// </summary>
[Collection("Worker processes")]
public sealed class CandidateCheckTests
{
    private static readonly string Demo = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack");
    private static readonly string DemoModel = Path.Combine(Demo, "workpiece-crack-yolov8n-320.onnx");

    [Fact]
    public async Task The_child_admits_a_sound_model_refuses_a_broken_one_and_is_stopped_when_it_takes_too_long()
    {
        using var folder = new TempFolder();
        var small = await GoldenSetAsync(folder.File("small"), 2);
        await CandidateCheck.CheckAsync(new CandidateCheck.Request(DemoModel, small, (320, 320), ["crack"], null, NmsPlacement.InGraph), TimeSpan.FromMinutes(1));

        var contract = await Assert.ThrowsAsync<InspectionInputException>(() => CandidateCheck.CheckAsync(new CandidateCheck.Request(DemoModel, small, (640, 640), ["crack"], null, NmsPlacement.InGraph), TimeSpan.FromMinutes(1)));
        Assert.Contains("takes 320x320 images, the serving model 640x640", contract.Message);
        var classes = await Assert.ThrowsAsync<InspectionInputException>(() => CandidateCheck.CheckAsync(new CandidateCheck.Request(DemoModel, null, null, ["scratch"], null, NmsPlacement.InGraph), TimeSpan.FromMinutes(1)));
        Assert.Contains("a rule names class 'scratch'", classes.Message);
        var corrupt = folder.File("corrupt.onnx");
        File.WriteAllBytes(corrupt, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))]);
        var broken = await Assert.ThrowsAsync<InspectionInputException>(() => CandidateCheck.CheckAsync(new CandidateCheck.Request(corrupt, null, null, [], null, NmsPlacement.InGraph), TimeSpan.FromMinutes(1)));
        Assert.Contains(corrupt, broken.Message);

        var large = await GoldenSetAsync(folder.File("large"), 600);
        var clock = Stopwatch.StartNew();
        var slow = await Assert.ThrowsAsync<InspectionInputException>(() => CandidateCheck.CheckAsync(new CandidateCheck.Request(DemoModel, large, null, [], null, NmsPlacement.InGraph), TimeSpan.FromSeconds(2)));
        Assert.Contains("did not finish within 2 s and was stopped", slow.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the stop took {clock.Elapsed}");
        Assert.Empty(ServerProcess.ProcessesWith(large));
    }

    [Fact]
    public async Task A_check_process_killed_mid_check_refuses_the_candidate_and_the_worker_keeps_publishing()
    {
        using var folder = new TempFolder();
        var registry = new ModelRegistry(folder.File("registry"));
        var card = new ModelCard { Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
        registry.Register("crack", DemoModel, card);
        var slow = await GoldenSetAsync(folder.File("slow"), 3000); // a check of minutes: time to kill it
        registry.Register("crack", DemoModel, card, writeGoldenSet: target => Directory.Move(slow, target));
        registry.Promote("crack", 1);

        var brokerPort = ServerProcess.FreePort();
        using var worker = WorkerProcess.Start(folder.Path, HotSwapTests.RegistryWorker(registry.Root, brokerPort));
        await worker.WaitForLineAsync("Inspecting line", TimeSpan.FromSeconds(90));
        await using var client = await MqttSubscriber.StartAsync(brokerPort, "inspection/#", "operator");

        var promotion = CommandTests.CommandAsync(client, "inspection/site/line/cmd/promote", "{\"version\": 2}");
        var child = await CheckProcessOfAsync(worker);
        await Task.Delay(TimeSpan.FromSeconds(1)); // well into the golden set
        using (var process = Process.GetProcessById(child))
        {
            process.Kill(); // SIGKILL, as the kernel's OOM killer or a native crash would end it
        }

        var reply = await promotion;
        Assert.False(reply.GetProperty("ok").GetBoolean(), reply.ToString());
        Assert.Contains($"crack version 2, checked in a separate process: the model check (process {child}) was killed by signal 9 (SIGKILL)", reply.GetProperty("error").GetString());
        Assert.Contains(client.Snapshot(), m => m.Topic.EndsWith("/service/model", StringComparison.Ordinal) && m.Payload.Contains("\"event\":\"refused\"", StringComparison.Ordinal) && m.Payload.Contains("SIGKILL", StringComparison.Ordinal));

        var before = HotSwapTests.PublishedResultsOf(client).Count;
        await PipelineTests.Until(() => HotSwapTests.PublishedResultsOf(client).Count >= before + 20, "results after the check process died", worker);
        Assert.False(worker.HasExited);
        Assert.Equal(1, PipelineTests.Metric(await worker.GetAsync("/metrics"), "inspection_model_swaps_total{outcome=\"refused\"}"));
        Assert.Equal(1, registry.Pointer("crack")!.Version);
        PipelineTests.StopCleanly(worker);
    }

    /// <summary>The worker's check process, found as its child running --check-model.</summary>
    private static async Task<int> CheckProcessOfAsync(WorkerProcess worker)
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            using var pgrep = Process.Start(new ProcessStartInfo("pgrep", ["-P", worker.Id.ToString(CultureInfo.InvariantCulture), "-f", "check-model"]) { RedirectStandardOutput = true })!;
            var found = (await pgrep.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            await pgrep.WaitForExitAsync();
            if (found.Length == 1)
            {
                return int.Parse(found[0], CultureInfo.InvariantCulture);
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"the worker started no check process:\n{string.Join("\n", worker.Lines.TakeLast(20))}");
    }

    /// <summary>A golden set of <paramref name="count"/> copies of a demo picture, expecting what the demo model finds on it.</summary>
    private static async Task<string> GoldenSetAsync(string folder, int count)
    {
        var picture = Directory.GetFiles(Path.Combine(Demo, "demo"), "sample10_*.jpg").Order(StringComparer.Ordinal).First();
        IReadOnlyList<GoldenDetection> detections;
        await using (var detector = YoloDetector.Open(new DetectorOptions { ModelPath = DemoModel, Providers = [ExecutionProvider.Cpu] }))
        {
            detections = GoldenCheck.Detect(detector, picture);
        }

        GoldenSet.Create(folder, [.. Enumerable.Repeat((picture, detections), count)]);
        return folder;
    }
}

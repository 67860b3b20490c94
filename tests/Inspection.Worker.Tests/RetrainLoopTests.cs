using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Inspection.Models;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

/// <summary>The loop closed, and signed: a worker streams, a retraining run registers, signs and promotes version 2, the worker verifies it and swaps without a gap.</summary>
[Collection("Worker processes")]
public sealed partial class RetrainLoopTests
{
    [Fact]
    public async Task A_retrained_version_is_swapped_in_with_no_gap_no_duplicate_and_one_change_of_version()
    {
        var data = SharedData.Require("datasets/workpiece-crack");
        using var folder = new TempFolder();
        var demo = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo");
        var registry = folder.File("registry");

        // Version 1: a small model trained here (one epoch at 64 px: it only has to exist), with its checkpoint.
        var trained = await CliRunner.RunAsync("train", "--data", data, "--model", "n", "--epochs", "1", "--imgsz", "64", "--batch", "16", "--out", folder.File("v1"));
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        var pictures = Directory.GetFiles(demo, "*.jpg").Order(StringComparer.Ordinal).Take(2).ToArray();
        var registered = await CliRunner.RunAsync("models", "register", "--registry", registry, "--name", "crack", "--weights", folder.File("v1/weights/best.weights"), "--golden", pictures[0], pictures[1], "--promote");
        Assert.True(registered.ExitCode == 0, registered.Stderr);

        // Signed: the worker serves only versions signed by this key, and the retraining run signs what it registers.
        Assert.Equal(0, (await CliRunner.RunAsync("models", "keygen", "--out", folder.File("keys"))).ExitCode);
        var signed = await CliRunner.RunAsync("models", "sign", "--registry", registry, "--name", "crack", "--version", "1", "--key", folder.File("keys/model-signing.key.pem"));
        Assert.True(signed.ExitCode == 0, signed.Stderr);

        using var broker = ServerProcess.Mosquitto(folder.Path);
        var brokerPort = broker.Port;
        await using var scada = await MqttSubscriber.StartAsync(brokerPort, "inspection/#", "scada"); // before the worker: every result
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Model:Registry"] = registry,
            ["Inspection:Model:Name"] = "crack",
            ["Inspection:Model:PublicKeyFile"] = folder.File("keys/model-signing.pub.pem"),
            ["Inspection:Model:RegistryPollInterval"] = "00:00:00.200",
            ["Inspection:Mqtt:Host"] = "127.0.0.1",
            ["Inspection:Mqtt:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Cameras:0:Id"] = "line",
            ["Inspection:Cameras:0:Uri"] = demo,
            ["Inspection:Cameras:0:Loop"] = "true",
            ["Inspection:Cameras:0:FolderFps"] = "10",
            ["Inspection:Cameras:0:Policy"] = "DeliverAll",
            ["Inspection:Evidence:Directory"] = folder.File("evidence"),
            ["Inspection:Evidence:UncertainSampleRate"] = "1",
        });
        await worker.WaitForLineAsync("Inspecting line", TimeSpan.FromSeconds(60));
        await PipelineTests.Until(() => Results(scada).Count >= 10, "results from version 1", worker);

        var retrain = await CliRunner.RunAsync(
            "retrain", "--registry", registry, "--name", "crack", "--data", data, "--evidence", folder.File("evidence"), "--pseudo-labels-above", "0.05",
            "--epochs", "1", "--batch", "16", "--margin", "1", "--out", folder.File("runs"), "--sign-key", folder.File("keys/model-signing.key.pem"),
            "--mqtt-host", "127.0.0.1", "--mqtt-port", brokerPort.ToString(CultureInfo.InvariantCulture));
        Assert.True(retrain.ExitCode == 0, retrain.Stderr);
        var report = JsonDocument.Parse(retrain.Stdout).RootElement;
        Assert.True(report.GetProperty("Promoted").GetBoolean(), retrain.Stdout);
        Assert.Equal(2, report.GetProperty("Candidate").GetProperty("Version").GetInt32());
        Assert.Matches("^[0-9a-f]{64}$", report.GetProperty("SignedBy").GetString());
        Assert.Equal(2, new ModelRegistry(registry).Pointer("crack")!.Version);
        Assert.True(File.Exists(Path.Combine(report.GetProperty("RunFolder").GetString()!, "report.md")));

        await PipelineTests.Until(() => Results(scada).Count(r => r.Version == "2") >= 10, "results from version 2", worker);
        await PipelineTests.Until(() => scada.Snapshot().Any(m => m.Topic.EndsWith("/service/retrain", StringComparison.Ordinal)), "the retraining summary", worker);
        PipelineTests.StopCleanly(worker);
        var taken = long.Parse(worker.Lines.Select(l => Summary().Match(l)).Single(m => m.Success).Groups[1].Value, CultureInfo.InvariantCulture);
        await PipelineTests.Until(() => Results(scada).Count >= taken, $"all {taken} results", worker);

        var results = Results(scada).OrderBy(r => r.Sequence).ToList();
        Assert.Equal(Enumerable.Range(1, (int)taken).Select(i => (long)i), results.Select(r => r.Sequence)); // no gap, no duplicate
        var changes = results.Zip(results.Skip(1)).Count(pair => pair.First.Version != pair.Second.Version);
        Assert.Equal(1, changes); // version 1, then version 2, once
        Assert.Equal(("1", "2"), (results[0].Version, results[^1].Version));
    }

    private static List<(long Sequence, string Version)> Results(MqttSubscriber subscriber) =>
        [.. subscriber.Snapshot().Where(m => m.Topic.EndsWith("/line/result", StringComparison.Ordinal)).Select(m =>
        {
            var root = JsonDocument.Parse(m.Payload).RootElement;
            return (root.GetProperty("sequence").GetInt64(), root.GetProperty("model").GetProperty("version").GetString()!);
        })];

    [GeneratedRegex(@"Camera line: (\d+) frames taken for inspection")]
    private static partial Regex Summary();
}

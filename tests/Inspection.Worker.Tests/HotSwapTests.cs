using System.Globalization;
using System.Text.Json;
using Inspection.Models;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

/// <summary>A worker following a real model registry: checked swaps, refusals, rollback, shadow mode and the golden-set heartbeat.</summary>
[Collection("Worker processes")]
public sealed class HotSwapTests
{
    [Fact]
    public async Task Bad_models_are_refused_while_the_old_one_serves_and_promotion_shadow_rollback_and_heartbeat_work()
    {
        using var folder = new TempFolder();
        var demo = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack");
        var pictures = Directory.GetFiles(Path.Combine(demo, "demo"), "sample1*.jpg").Where(p => Path.GetFileName(p).StartsWith("sample10_", StringComparison.Ordinal) || Path.GetFileName(p).StartsWith("sample11_", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray(); // each shows a crack the demo model finds
        var registryPath = folder.File("registry");
        var model = Path.Combine(demo, "workpiece-crack-yolov8n-320.onnx");

        // 1 and 2: the demo model with golden sets; then five ways to be wrong.
        Assert.Equal(0, (await CliRunner.RunAsync("models", "register", "--registry", registryPath, "--name", "crack", "--model", model, "--golden", pictures[0], pictures[1], "--promote")).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync("models", "register", "--registry", registryPath, "--name", "crack", "--model", model, "--golden", pictures[2])).ExitCode);
        var registry = new ModelRegistry(registryPath);
        var corrupt = folder.File("corrupt.onnx");
        File.WriteAllBytes(corrupt, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))]);
        registry.Register("crack", corrupt, Card());                                                                              // 3
        registry.Register("crack", SharedData.Require("models/yolov8n-int8-coco/yolov8n_int8.onnx"), Card());                     // 4: 640x640
        var otherClasses = SyntheticModels.Save(SyntheticModels.ConstantOutput(new float[7 * 2100], [1, 7, 2100], 320, batch: null, names: ["scratch", "dent", "pit"]), folder.File("classes.onnx"));
        registry.Register("crack", otherClasses, Card());                                                                         // 5: no 'crack'
        var tampered = registry.Register("crack", model, Card());                                                                 // 6
        File.AppendAllText(tampered.ModelPath, "x");
        Assert.Equal(0, (await CliRunner.RunAsync("models", "register", "--registry", registryPath, "--name", "crack", "--model", model, "--golden", pictures[0])).ExitCode); // 7
        var golden7 = Path.Combine(registry.Get("crack", 7).GoldenPath, GoldenSet.ExpectedFile);
        File.WriteAllText(golden7, File.ReadAllText(golden7).Replace("\"score\": 0.", "\"score\": 0.0", StringComparison.Ordinal)); // expected scores far off
        Assert.NotEmpty(GoldenSet.Load(registry.Get("crack", 7).GoldenPath).Images[0].Expected);

        var brokerPort = ServerProcess.FreePort();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Model:Registry"] = registryPath,
            ["Inspection:Model:Name"] = "crack",
            ["Inspection:Model:HeartbeatInterval"] = "01:00:00",
            ["Inspection:Rules:Classes:crack:Confidence"] = "0.3",
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Cameras:0:Id"] = "line",
            ["Inspection:Cameras:0:Uri"] = Path.Combine(demo, "demo"),
            ["Inspection:Cameras:0:Loop"] = "true",
            ["Inspection:Cameras:0:FolderFps"] = "20",
        });
        await worker.WaitForLineAsync("Inspecting line", TimeSpan.FromSeconds(60));
        await using var client = await MqttSubscriber.StartAsync(brokerPort, "inspection/#", "operator");

        var refusals = new Dictionary<int, string>
        {
            [3] = "3/model.onnx",      // does not load: the reason names the file
            [4] = "takes 640x640 images",
            [5] = "class 'crack'",
            [6] = "SHA-256",
            [7] = "fails its golden set",
        };
        foreach (var (version, reason) in refusals)
        {
            await PromotionRefusedAsync(client, version, reason, serving: "1");
        }

        // A promotion from the command line that the worker refuses: the old model keeps serving, an event says why.
        Assert.Equal(0, (await CliRunner.RunAsync("models", "promote", "--registry", registryPath, "--name", "crack", "--version", "4")).ExitCode);
        await PipelineTests.Until(() => client.Snapshot().Count(m => m.Topic.EndsWith("/service/model", StringComparison.Ordinal) && m.Payload.Contains("\"event\":\"refused\"", StringComparison.Ordinal) && m.Payload.Contains("\"version\":\"4\"", StringComparison.Ordinal)) >= 2, "the registry's refusal event (the command's came first)", worker);
        Assert.Equal("1", await ServingAsync(client));
        Assert.Equal(0, (await CliRunner.RunAsync("models", "promote", "--registry", registryPath, "--name", "crack", "--version", "1")).ExitCode);

        // Shadow mode: version 2 (the same weights) agrees completely, and /metrics says so.
        Assert.True((await CommandTests.CommandAsync(client, "inspection/site/line/cmd/shadow", "{\"version\": 2, \"sampleRate\": 1}")).GetProperty("ok").GetBoolean());
        await PipelineTests.Until(() => Metric(worker, "inspection_shadow_frames_total{candidate=\"crack 2\"}") >= 10, "shadow frames", worker);
        Assert.Equal(1, Metric(worker, "inspection_shadow_verdict_agreement{candidate=\"crack 2\"}"));
        Assert.Equal(1, Metric(worker, "inspection_shadow_detection_agreement{candidate=\"crack 2\"}"));

        // Promote, then roll back: results name the version that made them.
        var beforePromotion = worker.Lines.Count;
        Assert.True((await CommandTests.CommandAsync(client, "inspection/site/line/cmd/promote", "{\"version\": 2}")).GetProperty("ok").GetBoolean());
        await PipelineTests.Until(() => PublishedResultsOf(client).Any(v => v == "2"), "results from version 2", worker);

        // Version 2 ran at every batch size the batcher can form (1 to 8) before it went live.
        var lines = worker.Lines.Skip(beforePromotion).ToList();
        var warmed = lines.FindIndex(l => l.Contains("Model crack 2 warmed up at batch sizes 1,2,3,4,5,6,7,8 on ", StringComparison.Ordinal));
        var live = lines.FindIndex(l => l.Contains("Model crack version 2 swapped", StringComparison.Ordinal));
        Assert.True(warmed >= 0 && warmed < live, string.Join("\n", lines));
        Assert.All(Enumerable.Range(1, 8), b => Assert.True(Metric(worker, $"inspection_model_warmup_seconds{{batch=\"{b}\"}}") > 0, $"batch {b}"));
        Assert.Equal(2, registry.Pointer("crack")!.Version);
        Assert.True((await CommandTests.CommandAsync(client, "inspection/site/line/cmd/rollback", "{}")).GetProperty("ok").GetBoolean());
        var afterRollback = PublishedResultsOf(client).Count;
        await PipelineTests.Until(() => PublishedResultsOf(client).Skip(afterRollback + 4).Any(v => v == "1"), "results from version 1 again", worker);
        Assert.Equal(1, registry.Pointer("crack")!.Version);

        // The heartbeat passes, and fails once the golden set's expectations are changed.
        var beat = await CommandTests.CommandAsync(client, "inspection/site/line/cmd/heartbeat", "{}");
        Assert.True(beat.GetProperty("result").GetProperty("ok").GetBoolean(), beat.ToString());
        var golden1 = Path.Combine(registry.Get("crack", 1).GoldenPath, GoldenSet.ExpectedFile);
        var moved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(golden1))!;
        moved[0]!["expected"]![0]!["box"]![0] = 1.0; // the first expected box now starts elsewhere
        File.WriteAllText(golden1, moved.ToJsonString());
        beat = await CommandTests.CommandAsync(client, "inspection/site/line/cmd/heartbeat", "{}");
        Assert.False(beat.GetProperty("result").GetProperty("ok").GetBoolean(), beat.ToString());
        Assert.Equal(0, Metric(worker, "inspection_heartbeat_ok"));
        Assert.Contains(client.Snapshot(), m => m.Topic.EndsWith("/service/heartbeat", StringComparison.Ordinal) && m.Payload.Contains("\"ok\":false", StringComparison.Ordinal));
        Assert.True(Metric(worker, "inspection_model_swaps_total{outcome=\"refused\"}") >= 6);
        PipelineTests.StopCleanly(worker);
    }

    /// <summary>A worker following registry R's model "crack", one camera on the demo pictures, results on an embedded broker.</summary>
    internal static Dictionary<string, string> RegistryWorker(string registry, int brokerPort) => new()
    {
        ["Inspection:Model:Registry"] = registry,
        ["Inspection:Model:Name"] = "crack",
        ["Inspection:Model:HeartbeatInterval"] = "00:00:00",
        ["Inspection:Mqtt:EmbeddedBrokerPort"] = brokerPort.ToString(CultureInfo.InvariantCulture),
        ["Inspection:Evidence:Enabled"] = "false",
        ["Inspection:Cameras:0:Id"] = "line",
        ["Inspection:Cameras:0:Uri"] = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo"),
        ["Inspection:Cameras:0:Loop"] = "true",
        ["Inspection:Cameras:0:FolderFps"] = "10",
    };

    /// <summary>Asks for <paramref name="version"/> by command and checks the refusal says <paramref name="reason"/> and <paramref name="serving"/> still serves.</summary>
    internal static async Task PromotionRefusedAsync(MqttSubscriber client, int version, string reason, string serving)
    {
        var reply = await CommandTests.CommandAsync(client, "inspection/site/line/cmd/promote", $"{{\"version\": {version}}}");
        Assert.False(reply.GetProperty("ok").GetBoolean(), $"version {version} was accepted");
        Assert.Contains(reason, reply.GetProperty("error").GetString());
        Assert.Equal(serving, await ServingAsync(client));
    }

    internal static List<string> PublishedResultsOf(MqttSubscriber client) =>
        [.. client.Snapshot().Where(m => m.Topic.EndsWith("/result", StringComparison.Ordinal)).Select(m => JsonDocument.Parse(m.Payload).RootElement.GetProperty("model").GetProperty("version").GetString()!)];

    internal static async Task<string> ServingAsync(MqttSubscriber client) =>
        (await CommandTests.CommandAsync(client, "inspection/site/line/cmd/model", "{}")).GetProperty("result").GetProperty("serving").GetProperty("version").GetString()!;

    private static double Metric(WorkerProcess worker, string series)
    {
        try
        {
            return PipelineTests.Metric(worker.GetAsync("/metrics").GetAwaiter().GetResult(), series);
        }
        catch (InvalidOperationException)
        {
            return -1;
        }
    }

    private static ModelCard Card() => new() { Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
}

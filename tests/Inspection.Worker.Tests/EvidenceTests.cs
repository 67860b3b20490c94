using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Datasets;
using Inspection.Inference;
using Inspection.TestSupport;
using Inspection.Web;
using Inspection.Worker.Configuration;
using Inspection.Worker.Control;
using Inspection.Worker.Evidence;
using Inspection.Worker.Observability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenCvSharp;

namespace Inspection.Worker.Tests;

[Collection("Worker processes")]
public sealed class EvidenceTests
{
    private const string Escape = "../../../../../tmp/inspection-escape";

    [Fact]
    public async Task Evidence_forms_a_dataset_the_trainer_accepts_and_a_part_id_cannot_write_outside_it()
    {
        using var folder = new TempFolder();
        var evidence = Path.Combine(folder.Path, "evidence");
        var brokerPort = ServerProcess.FreePort();
        var demo = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo");
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Cameras:0:Id"] = "line",
            ["Inspection:Cameras:0:Uri"] = demo,
            ["Inspection:Cameras:0:Loop"] = "true",
            ["Inspection:Cameras:0:FolderFps"] = "10",
            ["Inspection:Cameras:1:Id"] = "station",
            ["Inspection:Cameras:1:Uri"] = demo,
            ["Inspection:Cameras:1:Loop"] = "true",
            ["Inspection:Cameras:1:FolderFps"] = "10",
            ["Inspection:Cameras:1:Mode"] = "Triggered",
            ["Inspection:Cameras:1:Rules:Confidence"] = "0.01", // anything found is NG here, so the triggered frame is kept
            ["Inspection:Evidence:Directory"] = evidence,
            ["Inspection:Evidence:UncertainSampleRate"] = "1",
        });
        await worker.WaitForLineAsync("Inspecting line", TimeSpan.FromSeconds(60));
        await using var plc = await MqttSubscriber.StartAsync(brokerPort, "inspection/site/line/station/result", "plc");
        await PipelineTests.Until(() => plc.Snapshot().Count == 0 && Directory.Exists(Path.Combine(evidence, "images")) && Directory.GetFiles(Path.Combine(evidence, "images")).Length >= 5, "evidence from the line camera", worker);
        await plc.PublishAsync("inspection/site/line/station/trigger", JsonSerializer.Serialize(new { partId = Escape }));
        await PipelineTests.Until(() => PublishedResult.Of(plc).Any(r => r.PartId == Escape), "the verdict for the escaping part id", worker);
        Assert.Equal("NG", PublishedResult.Of(plc).Single().Verdict);
        PipelineTests.StopCleanly(worker);

        // Nothing outside the folder; the part's files are inside, named with the id cleaned, the id kept whole in meta.
        Assert.Empty(Directory.GetFiles("/tmp", "inspection-escape*"));
        Assert.All(Directory.GetFiles(folder.Path, "*", SearchOption.AllDirectories), f => Assert.DoesNotContain("inspection-escape", Path.GetDirectoryName(f)!));
        var partMeta = Directory.GetFiles(Path.Combine(evidence, "meta"), "*_station_*").Single();
        Assert.EndsWith("_" + new string('-', 15) + "tmp-inspection-escape.json", partMeta); // each . and / made a -
        Assert.Equal(Escape, JsonDocument.Parse(File.ReadAllText(partMeta)).RootElement.GetProperty("partId").GetString());
        foreach (var meta in Directory.GetFiles(Path.Combine(evidence, "meta")))
        {
            var name = Path.GetFileNameWithoutExtension(meta);
            Assert.True(File.Exists(Path.Combine(evidence, "images", name + ".jpg")));
            Assert.True(File.Exists(Path.Combine(evidence, "labels", name + ".txt")));
        }

        var check = await CliRunner.RunAsync("dataset", "check", evidence, "--json");
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        Assert.Equal("crack", JsonDocument.Parse(check.Stdout).RootElement.GetProperty("names")[0].GetString());
    }

    [SkippableFact]
    public async Task Evidence_keeps_awkward_class_names_readable_and_writes_detections_as_every_output_does()
    {
        using var folder = new TempFolder();
        using var metrics = new WorkerMetrics();
        var store = new EvidenceStore(Options.Create(new InspectionOptions { Evidence = { Directory = folder.Path } }), metrics, NullLogger<EvidenceStore>.Instance);
        store.UseClassNames(PyYaml.AwkwardNames);
        await store.StartAsync(CancellationToken.None);
        for (var waited = 0; !Directory.Exists(Path.Combine(folder.Path, "meta")) && waited < 10_000; waited += 10)
        {
            await Task.Delay(10); // the writer runs: a stop before it starts would cancel it unrun
        }

        var pictures = SharedData.Require("datasets/workpiece-crack/train/images");
        using var picture = Cv2.ImRead(Directory.GetFiles(pictures, "*.jpg").Order(StringComparer.Ordinal).First());
        var result = new InspectionResult
        {
            CameraId = "line", Sequence = 7, CaptureTime = DateTimeOffset.Parse("2026-11-28T10:00:00Z", CultureInfo.InvariantCulture), ModelName = "m", ModelVersion = "3",
            Verdict = Verdict.Ng, Detections = [new Detection(7, 0.912345f, new BoundingBox(10.04f, 20.06f, 330.3f, 100.54f))], ClassNames = PyYaml.AwkwardNames, Width = picture.Width, Height = picture.Height,
        };
        store.Offer(MatImage.View(picture), result, "ng");
        await store.StopAsync(CancellationToken.None);

        var yaml = Path.Combine(folder.Path, "data.yaml");
        Assert.Equal(PyYaml.AwkwardNames, await PyYaml.NamesAsync(yaml));
        var dataset = DatasetLoader.Load(folder.Path);
        Assert.Equal(PyYaml.AwkwardNames, dataset.Names);
        var label = dataset.Splits["train"].Images.Single().Boxes.Single();
        Assert.Equal(7, label.ClassId);
        Assert.Equal(10.04 / 320, label.Box.X1, 1e-6); // label files keep 6 decimals
        Assert.Equal(20.06 / 320, label.Box.Y1, 1e-6);
        Assert.Equal(1, label.Box.X2, 1e-6);           // clipped to the picture
        Assert.Equal(100.54 / 320, label.Box.Y2, 1e-6);
        var detection = JsonDocument.Parse(File.ReadAllText(Directory.GetFiles(Path.Combine(folder.Path, "meta")).Single())).RootElement.GetProperty("detections")[0];
        Assert.Equal("no", detection.GetProperty("class").GetString());
        Assert.Equal(0.9123, detection.GetProperty("score").GetDouble());
        Assert.Equal([10, 20.1, 330.3, 100.5], detection.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()));
    }

    [Theory]
    [InlineData("../outside.jpg")]
    [InlineData("images/../../outside.jpg")]
    [InlineData("/etc/passwd")]
    public void A_path_that_leaves_the_evidence_folder_is_refused(string relative)
    {
        using var folder = new TempFolder();
        using var metrics = new WorkerMetrics();
        var store = new EvidenceStore(Options.Create(new InspectionOptions { Evidence = { Directory = folder.Path } }), metrics, NullLogger<EvidenceStore>.Instance);
        var e = Assert.Throws<InspectionInputException>(() => store.Inside(relative));
        Assert.Contains("outside the evidence folder", e.Message);
        Assert.StartsWith(folder.Path, store.Inside("images/a.jpg"), StringComparison.Ordinal);
    }

    /// <summary>Every kept frame's result names its item before it is published: the name of the stored files, whose meta names the result back.</summary>
    [Fact]
    public async Task A_kept_frame_s_result_names_the_evidence_item_it_was_stored_as()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        var frames = Directory.GetFiles(InProcessSettings.DemoPictures, "*.jpg").Length;
        var settings = KeepingEvidence(folder, broker.Port);
        await using (var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IResultSink>(recording)))
        {
            await Waiting.WaitUntil(() => recording.Results.Count(r => r.Sequence > 0) == frames, $"{frames} results", TimeSpan.FromSeconds(60));
            await worker.StopAsync(); // the evidence queue is written out
        }

        var results = recording.Results.Where(r => r.Sequence > 0).ToList();
        Assert.Contains(results, r => r.Verdict == Verdict.Ng);
        Assert.All(results.Where(r => r.Verdict == Verdict.Ng), r => Assert.Equal(new EvidenceRef(EvidenceStore.NameOf(r), "ng"), r.Evidence));
        foreach (var result in results.Where(r => r.Evidence is not null))
        {
            var id = result.Evidence!.Id;
            Assert.True(File.Exists(Path.Combine(settings["Inspection:Evidence:Directory"], "images", id + ".jpg")), $"images/{id}.jpg");
            var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(settings["Inspection:Evidence:Directory"], "meta", id + ".json"))).RootElement;
            Assert.Equal(result.Id, meta.GetProperty("resultId").GetGuid());
        }
    }

    /// <summary>The MQTT result of a kept frame names its item and the picture's URL under the web view's public base URL.</summary>
    [Fact]
    public async Task A_kept_frame_s_MQTT_result_carries_its_evidence_URL_under_the_public_base_URL()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        await using var subscriber = await MqttSubscriber.StartAsync(broker.Port, "inspection/plant1/lineA/+/defect");
        var settings = KeepingEvidence(folder, broker.Port);
        settings["Inspection:Web:PublicBaseUrl"] = "https://line3-ipc:9401/";
        await using var worker = await InProcessWorker.StartAsync(settings);
        await Waiting.WaitUntil(() => subscriber.Snapshot().Count > 0, "an NG result", TimeSpan.FromSeconds(60));

        var message = JsonNode.Parse(subscriber.Snapshot()[0].Payload)!;
        var id = (string)message["evidence"]!["id"]!;
        Assert.Equal($"https://line3-ipc:9401/api/evidence/{id}.jpg", (string)message["evidence"]!["url"]!);
        Assert.Equal(3, (int)message["schemaVersion"]!);
    }

    /// <summary>A writer that is behind drops the offer and says so, so the pipeline publishes no evidence id for a picture that will never exist.</summary>
    [Fact]
    public void An_offer_the_full_queue_drops_returns_false_and_is_counted()
    {
        using var folder = new TempFolder();
        using var metrics = new WorkerMetrics();
        var store = new EvidenceStore(Options.Create(new InspectionOptions { Evidence = { Directory = folder.Path, QueueCapacity = 1 } }), metrics, NullLogger<EvidenceStore>.Instance);
        using var picture = new Mat(32, 32, MatType.CV_8UC3, Scalar.All(128));
        var result = new InspectionResult
        {
            CameraId = "line", Sequence = 1, CaptureTime = DateTimeOffset.UnixEpoch, ModelName = "m", ModelVersion = "1",
            Verdict = Verdict.Ng, Detections = [], ClassNames = [], Width = 32, Height = 32,
        };

        Assert.True(store.Offer(MatImage.View(picture), result, "ng")); // the writer is not started: the queue holds one
        Assert.False(store.Offer(MatImage.View(picture), result with { Sequence = 2 }, "ng"));
        Assert.Equal(1, metrics.Evidence.WithLabels("ng", "dropped").Value);
    }

    /// <summary>The review command decides as 'dataset review' does: accepted and relabelled items go to reviewed/, rejected ones to rejected/; a viewer may not.</summary>
    [Fact]
    public async Task The_review_command_accepts_relabels_and_rejects_kept_frames_for_operators_only()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        var settings = KeepingEvidence(folder, broker.Port);
        var evidence = settings["Inspection:Evidence:Directory"];
        await using var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IResultSink>(recording));
        await Waiting.WaitUntil(() => recording.Results.Count(r => r.Evidence is not null) >= 3 && recording.Results.Where(r => r.Evidence is not null).All(r => File.Exists(Path.Combine(evidence, "meta", r.Evidence!.Id + ".json"))), "three kept frames written", TimeSpan.FromSeconds(60));
        var items = recording.Results.Where(r => r.Evidence is not null).Select(r => r.Evidence!.Id).Take(3).ToList();
        ILineCommands gate = worker.Get<CommandGate>();
        var ana = new WebUser("ana", Access.Role.Operator);

        var refused = await gate.RunAsync(new WebUser("sam", Access.Role.Scada), "review", null, new JsonObject { ["item"] = items[0], ["action"] = "accept" }, audit: false, CancellationToken.None);
        Assert.Equal(403, refused.Status);
        Assert.True(File.Exists(Path.Combine(evidence, "meta", items[0] + ".json")));

        Assert.Equal(200, (await gate.RunAsync(ana, "review", null, new JsonObject { ["item"] = items[0], ["action"] = "accept" }, audit: false, CancellationToken.None)).Status);
        Assert.Equal(200, (await gate.RunAsync(ana, "review", null, new JsonObject { ["item"] = items[1], ["action"] = "relabel", ["labels"] = new JsonArray("0 0.5 0.5 0.2 0.1") }, audit: false, CancellationToken.None)).Status);
        var rejected = await gate.RunAsync(ana, "review", null, new JsonObject { ["item"] = items[2], ["action"] = "reject" }, audit: false, CancellationToken.None);
        Assert.Equal("rejected", (string)rejected.Result!["status"]!);
        var again = await gate.RunAsync(ana, "review", null, new JsonObject { ["item"] = items[2], ["action"] = "accept" }, audit: false, CancellationToken.None);
        Assert.Equal(400, again.Status);
        Assert.Contains("no pending evidence item", again.Error, StringComparison.Ordinal);
        var traversal = await gate.RunAsync(ana, "review", null, new JsonObject { ["item"] = "../data", ["action"] = "reject" }, audit: false, CancellationToken.None);
        Assert.Equal(400, traversal.Status);

        foreach (var (item, to) in new[] { (items[0], "reviewed"), (items[1], "reviewed"), (items[2], "rejected") })
        {
            Assert.False(File.Exists(Path.Combine(evidence, "images", item + ".jpg")), item);
            Assert.True(File.Exists(Path.Combine(evidence, to, "images", item + ".jpg")), $"{to}/images/{item}.jpg");
            Assert.True(File.Exists(Path.Combine(evidence, to, "meta", item + ".json")), $"{to}/meta/{item}.json");
        }

        Assert.Equal("0 0.5 0.5 0.2 0.1", File.ReadAllText(Path.Combine(evidence, "reviewed", "labels", items[1] + ".txt")).Trim());
    }

    /// <summary>The demo pictures once through one camera, with evidence kept (the demo model finds cracks in some).</summary>
    private static Dictionary<string, string> KeepingEvidence(TempFolder folder, int brokerPort)
    {
        var settings = InProcessSettings.Demo(folder, brokerPort, cameras: ["demo"], fps: 25, loop: false);
        settings["Inspection:Evidence:Enabled"] = "true";
        return settings;
    }
}

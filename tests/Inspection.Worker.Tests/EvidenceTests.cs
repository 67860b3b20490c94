using System.Globalization;
using System.Text.Json;
using Inspection.Core;
using Inspection.TestSupport;
using Inspection.Worker.Configuration;
using Inspection.Worker.Evidence;
using Inspection.Worker.Observability;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

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

    [Theory]
    [InlineData("../outside.jpg")]
    [InlineData("images/../../outside.jpg")]
    [InlineData("/etc/passwd")]
    public void A_path_that_leaves_the_evidence_folder_is_refused(string relative)
    {
        using var folder = new TempFolder();
        var store = new EvidenceStore(Options.Create(new InspectionOptions { Evidence = { Directory = folder.Path } }), new WorkerMetrics(), NullLogger<EvidenceStore>.Instance);
        var e = Assert.Throws<InspectionInputException>(() => store.Inside(relative));
        Assert.Contains("outside the evidence folder", e.Message);
        Assert.StartsWith(folder.Path, store.Inside("images/a.jpg"), StringComparison.Ordinal);
    }
}

using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Models;
using Inspection.TestSupport;

namespace Inspection.Web.Tests;

/// <summary>/api/model over real HTTP against a real registry folder: its versions, the serving card, shadow, heartbeat and retraining.</summary>
public sealed class ModelTests
{
    [Fact]
    public async Task TheModelShowsTheRegistrysVersionsTheServingCardShadowHeartbeatAndLastRetraining()
    {
        await using var web = await WebApp.StartAsync(withRegistry: true);
        var registry = new ModelRegistry(web.RegistryRoot);
        var onnx = Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "workpiece-crack-yolov8n-320.onnx");
        var created = new[] { DateTimeOffset.Parse("2026-11-01T08:00:00Z"), DateTimeOffset.Parse("2026-11-14T08:00:00Z"), DateTimeOffset.Parse("2026-11-27T08:00:00Z") };
        for (var i = 0; i < 3; i++)
        {
            registry.Register("demo", onnx, Card(created[i], 0.6 + (i / 10.0)));
        }

        var (privateKey, _, keyId) = SigningKeys.Generate(web.Folder.File("keys"));
        using (var key = SigningKeys.LoadPrivateKey(privateKey))
        {
            ModelSignature.Sign(registry.Get("demo", 2), key);
        }

        registry.Promote("demo", 1);
        registry.Promote("demo", 2); // the registry points at 2; the worker still serves 1 (as when it refused 2)
        web.Line.Model = new JsonObject
        {
            ["serving"] = new JsonObject { ["name"] = "demo", ["version"] = "1", ["provider"] = "Cpu" },
            ["registry"] = new JsonObject { ["current"] = 2, ["previous"] = new JsonArray(1), ["versions"] = new JsonArray(1, 2, 3) },
            ["shadow"] = new JsonObject { ["candidate"] = "3", ["frames"] = 240, ["verdictAgreement"] = 0.9917, ["detectionAgreement"] = 0.975 },
        };
        await web.Publish(SinkItem.ForEvent(new ServiceEvent("heartbeat", """{"model":"demo","version":"1","ok":true,"failures":[]}"""u8.ToArray())));

        using var sam = await web.SignedInAsync("sam"); // a viewer reads it all
        var model = (await sam.GetFromJsonAsync<JsonObject>("/api/model"))!;

        var versions = model["versions"]!.AsArray();
        Assert.Equal([3, 2, 1], versions.Select(v => (int)v!["version"]!));
        Assert.Equal(created.Reverse(), versions.Select(v => (DateTimeOffset)v!["created"]!));
        Assert.Equal([0.8, 0.7, 0.6], versions.Select(v => Math.Round((double)v!["metrics"]!["mAP50"]!, 3)));
        Assert.Equal([false, true, false], versions.Select(v => (bool)v!["signed"]!));
        Assert.Equal(keyId, (string?)versions[1]!["signedBy"]);
        Assert.Equal([false, true, false], versions.Select(v => (bool)v!["current"]!));
        Assert.Equal([false, false, true], versions.Select(v => (bool)v!["serving"]!));

        var serving = model["serving"]!;
        Assert.Equal(registry.Get("demo", 1).Card.Sha256, (string?)serving["card"]!["sha256"]);
        Assert.Equal(["crack"], serving["card"]!["classes"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(created[0], (DateTimeOffset)serving["card"]!["created"]!);
        Assert.Equal(0.6, (double)serving["metrics"]!["mAP50"]!);
        Assert.Equal(0.9917, (double)model["shadow"]!["verdictAgreement"]!);
        Assert.True((bool)model["lastHeartbeat"]!["ok"]!);
        Assert.Null(model["lastRetrain"]);
    }

    [Fact]
    public async Task TheLastRetrainingReportIsTheNewestRunsAndAWorkerWithoutARegistryHasNoVersions()
    {
        using var runs = new TempFolder();
        await using var web = await WebApp.StartAsync(o => o.RetrainReports = runs.Path);
        foreach (var (run, decision, age) in new[] { ("20261126-0300", "kept version 2", 2), ("20261127-0300", "promoted version 3", 1) })
        {
            var report = Path.Combine(Directory.CreateDirectory(runs.File(run)).FullName, "report.json");
            File.WriteAllText(report, new JsonObject { ["name"] = "demo", ["started"] = DateTimeOffset.UtcNow.AddDays(-age), ["promoted"] = age == 1, ["decision"] = decision }.ToJsonString());
            File.SetLastWriteTimeUtc(report, DateTime.UtcNow.AddDays(-age));
        }

        using var sam = await web.SignedInAsync("sam");
        var model = (await sam.GetFromJsonAsync<JsonObject>("/api/model"))!;
        Assert.Equal("promoted version 3", (string?)model["lastRetrain"]!["decision"]);
        Assert.Equal("3", (string?)model["serving"]!["version"]);
        Assert.False(model.ContainsKey("versions")); // a model file, not a registry
        Assert.Null(model["serving"]!["card"]);
    }

    private static ModelCard Card(DateTimeOffset created, double map50) => new()
    {
        Name = "demo",
        Version = 0,
        Sha256 = string.Empty,
        Created = created,
        Classes = ["crack"],
        ImageSize = 320,
        Metrics = new Dictionary<string, double> { ["mAP50"] = map50, ["mAP50_95"] = map50 / 2 },
    };
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Inspection.Inference;
using Inspection.Models;
using Inspection.TestSupport;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Configuration;

namespace Inspection.Worker.Tests;

/// <summary>
/// A worker given a public key serves only versions signed with it: at start, on a registry promotion and by
/// command, an unsigned version, one signed by another key, one edited after signing and one whose golden set
/// points out of the registry are refused while the current model serves; a valid signed version is swapped in.
/// </summary>
[Collection("Worker processes")]
public sealed class SignedModelTests
{
    private static readonly string Demo = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack");

    [Fact]
    public async Task Only_versions_signed_with_the_configured_key_and_unchanged_since_serve()
    {
        using var folder = new TempFolder();
        var keys = SigningKeys.Generate(folder.File("keys"));
        var otherKeys = SigningKeys.Generate(folder.File("other-keys"));
        using var key = SigningKeys.LoadPrivateKey(keys.PrivateKeyPath);
        using var otherKey = SigningKeys.LoadPrivateKey(otherKeys.PrivateKeyPath);
        var registry = new ModelRegistry(folder.File("registry"));
        var picture = Directory.GetFiles(Path.Combine(Demo, "demo"), "sample10_*.jpg").Order(StringComparer.Ordinal).First();

        ModelSignature.Sign(await RegisterAsync(registry, picture), key);       // 1: serves
        await RegisterAsync(registry, picture);                                  // 2: unsigned
        ModelSignature.Sign(await RegisterAsync(registry, picture), otherKey);  // 3: another key
        var edited = await RegisterAsync(registry, picture);                     // 4: card edited after signing
        ModelSignature.Sign(edited, key);
        var card = Path.Combine(edited.Folder, RegisteredModel.CardFile);
        var better = JsonNode.Parse(File.ReadAllText(card))!;
        better["metrics"] = new JsonObject { ["mAP50"] = 0.99 };
        File.WriteAllText(card, better.ToJsonString());
        var outside = await RegisterAsync(registry, picture);                    // 5: golden image at ../
        ModelSignature.Sign(outside, key);
        var expected = Path.Combine(outside.GoldenPath, GoldenSet.ExpectedFile);
        var golden = JsonNode.Parse(File.ReadAllText(expected))!;
        golden[0]!["image"] = $"../../1/golden/{golden[0]!["image"]!.GetValue<string>()}";
        File.WriteAllText(expected, golden.ToJsonString());
        ModelSignature.Sign(await RegisterAsync(registry, picture), key);       // 6: valid
        registry.Promote("crack", 1);
        registry.Promote("crack", 2); // the registry's current version is unsigned when the worker starts

        var brokerPort = ServerProcess.FreePort();
        var settings = HotSwapTests.RegistryWorker(registry.Root, brokerPort);
        settings["Inspection:Model:PublicKeyFile"] = keys.PublicKeyPath;
        settings["Inspection:Model:RegistryPollInterval"] = "00:00:00.200";
        using var worker = WorkerProcess.Start(folder.Path, settings);
        await worker.WaitForLineAsync("Inspecting line", TimeSpan.FromSeconds(90));
        Assert.Contains(worker.Lines, l => l.Contains("version 2 refused; at start: crack version 2 is not signed", StringComparison.Ordinal));
        Assert.Contains(worker.Lines, l => l.Contains("Serving crack 1, which was current before: the registry's current version 2 was refused.", StringComparison.Ordinal));
        await using var client = await MqttSubscriber.StartAsync(brokerPort, "inspection/#", "operator");
        Assert.Equal("1", await HotSwapTests.ServingAsync(client));

        var refusals = new Dictionary<int, string>
        {
            [2] = "crack version 2 is not signed (no signature.json)",
            [3] = "crack version 3 is signed by another key",
            [4] = "crack version 4 changed after it was signed: model.json differs",
            [5] = "names a golden image: '../../1/golden/",
        };
        foreach (var (version, reason) in refusals)
        {
            await HotSwapTests.PromotionRefusedAsync(client, version, reason, serving: "1");
        }

        var shadow = await CommandTests.CommandAsync(client, "inspection/site/line/cmd/shadow", "{\"version\": 3, \"sampleRate\": 1}");
        Assert.False(shadow.GetProperty("ok").GetBoolean());
        Assert.Contains("signed by another key", shadow.GetProperty("error").GetString());
        Assert.Contains(client.Snapshot(), m => m.Topic.EndsWith("/service/model", StringComparison.Ordinal) && m.Payload.Contains("\"event\":\"refused\"", StringComparison.Ordinal) && m.Payload.Contains("\"version\":\"4\"", StringComparison.Ordinal) && m.Payload.Contains("changed after it was signed", StringComparison.Ordinal));

        // A promotion in the registry to a version signed by another key: refused, the results still come from 1.
        registry.Promote("crack", 3);
        await PipelineTests.Until(() => client.Snapshot().Count(m => m.Topic.EndsWith("/service/model", StringComparison.Ordinal) && m.Payload.Contains("\"version\":\"3\"", StringComparison.Ordinal)) >= 3, "the registry promotion's refusal (after the command's and the shadow's)", worker);
        var before = HotSwapTests.PublishedResultsOf(client).Count;
        await PipelineTests.Until(() => HotSwapTests.PublishedResultsOf(client).Count >= before + 10, "results after the refusals", worker);
        Assert.All(HotSwapTests.PublishedResultsOf(client).Skip(before), version => Assert.Equal("1", version));

        // The valid signed version is swapped in.
        var accepted = await CommandTests.CommandAsync(client, "inspection/site/line/cmd/promote", "{\"version\": 6}");
        Assert.True(accepted.GetProperty("ok").GetBoolean(), accepted.ToString());
        await PipelineTests.Until(() => HotSwapTests.PublishedResultsOf(client).Any(v => v == "6"), "results from version 6", worker);
        Assert.Equal(6, registry.Pointer("crack")!.Version);
        var metrics = await worker.GetAsync("/metrics");
        Assert.True(PipelineTests.Metric(metrics, "inspection_model_swaps_total{outcome=\"refused\"}") >= 7);
        Assert.True(PipelineTests.Metric(metrics, "inspection_model_check_seconds_count{check=\"signature\"}") >= 8);
        PipelineTests.StopCleanly(worker);
    }

    [Fact]
    public void A_public_key_file_that_is_missing_not_a_key_or_on_another_curve_stops_the_start()
    {
        using var folder = new TempFolder();
        Directory.CreateDirectory(folder.File("registry"));
        File.WriteAllText(folder.File("notes.pem"), "the key is on the USB stick\n");
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        File.WriteAllText(folder.File("p384.pem"), p384.ExportSubjectPublicKeyInfoPem());
        var keys = SigningKeys.Generate(folder.File("keys"));

        Assert.Contains("does not exist", Problem(folder, folder.File("missing.pem")));
        Assert.Contains("is not a PEM key file", Problem(folder, folder.File("notes.pem")));
        Assert.Contains("on P-256", Problem(folder, folder.File("p384.pem")));
        Assert.Contains("is a private key", Problem(folder, keys.PrivateKeyPath));
        var (_, problems) = WorkerConfiguration.Read(Configuration(new() { ["Inspection:Model:PublicKeyFile"] = keys.PublicKeyPath }));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Model:PublicKeyFile: signatures are kept beside registry versions", StringComparison.Ordinal));
    }

    private static string Problem(TempFolder folder, string keyFile)
    {
        var (_, problems) = WorkerConfiguration.Read(Configuration(new()
        {
            ["Inspection:Model:Registry"] = folder.File("registry"),
            ["Inspection:Model:Name"] = "crack",
            ["Inspection:Model:PublicKeyFile"] = keyFile,
        }));
        return Assert.Single(problems, p => p.StartsWith("Inspection:Model:PublicKeyFile: ", StringComparison.Ordinal));
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) => new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

    /// <summary>The demo model as the next version, with a golden set of one picture recorded from the model itself.</summary>
    private static async Task<RegisteredModel> RegisterAsync(ModelRegistry registry, string picture)
    {
        var model = Path.Combine(Demo, "workpiece-crack-yolov8n-320.onnx");
        IReadOnlyList<GoldenDetection> detections;
        await using (var detector = YoloDetector.Open(new DetectorOptions { ModelPath = model, Providers = [ExecutionProvider.Cpu] }))
        {
            detections = GoldenCheck.Detect(detector, picture);
        }

        var card = new ModelCard { Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
        return registry.Register("crack", model, card, writeGoldenSet: folder => GoldenSet.Create(folder, [(picture, detections)]));
    }
}

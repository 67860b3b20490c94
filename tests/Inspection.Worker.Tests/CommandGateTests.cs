using System.Text.Json.Nodes;
using Inspection.Access;
using Inspection.Core;
using Inspection.Models;
using Inspection.TestSupport;
using Inspection.Web;
using Inspection.Worker.Control;
using Inspection.Worker.Serving;
using Microsoft.Extensions.DependencyInjection;
using static Inspection.TestSupport.Waiting;

namespace Inspection.Worker.Tests;

/// <summary>One command path for MQTT and the web screen: the same role check, the same handlers, the same audit events.</summary>
[Collection("Worker processes")]
public sealed class CommandGateTests
{
    [Fact]
    public async Task A_web_user_s_commands_are_authorised_run_and_audited_as_an_MQTT_user_s_are()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        await using var worker = await InProcessWorker.StartAsync(
            InProcessSettings.Demo(folder, broker.Port, cameras: ["demo"]),
            services => services.AddSingleton<IResultSink>(recording));
        var gate = worker.Get<CommandGate>();
        ILineCommands web = gate;
        var threshold = new JsonObject { ["class"] = "crack", ["confidence"] = 0.4 };

        // An operator steers: 200 with the handler's result, and an accepted audit event naming the web session.
        var set = await web.RunAsync(new WebUser("ana", Role.Operator), "set-thresholds", "demo", threshold, audit: false, CancellationToken.None);
        Assert.Equal(200, set.Status);
        Assert.Equal(0.4, (double)set.Result!["demo"]!["crack"]!);

        // A viewer may not: 403, nothing changed, and the refusal is audited as an MQTT refusal is.
        var viewer = await web.RunAsync(new WebUser("sam", Role.Scada), "set-thresholds", "demo", new JsonObject { ["class"] = "crack", ["confidence"] = 0.9 }, audit: false, CancellationToken.None);
        Assert.Equal(403, viewer.Status);
        Assert.Contains("only operators may run 'set-thresholds'", viewer.Error, StringComparison.Ordinal);
        var read = await web.RunAsync(new WebUser("sam", Role.Scada), "get-thresholds", null, [], audit: false, CancellationToken.None);
        Assert.Equal((200, 0.4), (read.Status, (double)read.Result!["demo"]!["crack"]!));

        // Bad input is 400, an unknown command 404; both audited.
        Assert.Equal(400, (await web.RunAsync(new WebUser("ana", Role.Operator), "set-thresholds", "demo", new JsonObject { ["confidence"] = 2 }, audit: false, CancellationToken.None)).Status);
        Assert.Equal(404, (await web.RunAsync(new WebUser("ana", Role.Operator), "no-such-command", null, [], audit: false, CancellationToken.None)).Status);

        // The same requests from MQTT users give the same events, but for where they came from.
        await gate.RunAsync("mqtt", new Requester("ana", Role.Operator, "embedded broker"), "set-thresholds", "demo", System.Text.Encoding.UTF8.GetBytes(threshold.ToJsonString()), audit: true, CancellationToken.None);
        await gate.RunAsync("mqtt", new Requester("sam", Role.Scada, "embedded broker"), "set-thresholds", "demo", System.Text.Encoding.UTF8.GetBytes("{\"class\":\"crack\",\"confidence\":0.9}"), audit: true, CancellationToken.None);
        await web.AuditAsync(null, "mallory", "login", "refused", "unknown user or wrong password");

        await WaitUntil(() => Audits(recording).Count == 7, "seven audit events", TimeSpan.FromSeconds(10));
        var audits = Audits(recording);
        string Key(JsonObject e) => $"{e["user"]} {e["role"]} {e["command"]} {e["camera"]} {e["outcome"]}";
        Assert.Equal(
            ["ana Operator set-thresholds demo accepted", "sam Scada set-thresholds demo refused", "ana Operator set-thresholds demo refused", "ana Operator no-such-command  refused"],
            audits.Where(e => (string)e["source"]! == "web" && (string)e["command"]! != "login").Select(Key));
        Assert.All(audits.Where(e => (string)e["source"]! == "web"), e => Assert.Equal("web session", (string)e["via"]!));
        Assert.Equal(audits.Take(2).Select(Key), audits.Where(e => (string)e["source"]! == "mqtt").Select(Key));
        Assert.Equal(audits[1]["reason"]!.ToJsonString(), audits.Where(e => (string)e["source"]! == "mqtt").Last()["reason"]!.ToJsonString());
        Assert.Equal("mallory login refused", $"{audits[^1]["user"]} {audits[^1]["command"]} {audits[^1]["outcome"]}");
        Assert.Equal(1, worker.Get<Inspection.Worker.Observability.WorkerMetrics>().Commands.WithLabels("login", "refused").Value); // a known name, not "unknown"
        Assert.DoesNotContain(audits, e => (string)e["command"]! == "get-thresholds"); // a web read asked not to be audited
    }

    [Fact]
    public async Task A_promotion_or_rollback_is_announced_once_the_registry_points_at_what_serves()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var registry = new ModelRegistry(folder.File("registry"));
        var model = Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "workpiece-crack-yolov8n-320.onnx");
        foreach (var _ in new[] { 1, 2 })
        {
            registry.Register("crack", model, new ModelCard { Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 });
        }

        registry.Promote("crack", 1);
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["demo"]);
        settings["Inspection:Model:Registry"] = registry.Root;
        settings["Inspection:Model:Name"] = "crack";
        await using var worker = await InProcessWorker.StartAsync(settings);
        ILineCommands web = worker.Get<CommandGate>();
        var operatorUser = new WebUser("ana", Role.Operator);

        // What a swap's announcement sets going (the model page reloads, MQTT subscribers look) finds the registry moved.
        var pointedAtWhenAnnounced = new List<int?>();
        worker.Get<ModelHost>().Changed += _ => pointedAtWhenAnnounced.Add(registry.Pointer("crack")?.Version);
        Assert.Equal(200, (await web.RunAsync(operatorUser, "promote", null, new JsonObject { ["version"] = 2 }, audit: false, CancellationToken.None)).Status);
        Assert.Equal(200, (await web.RunAsync(operatorUser, "rollback", null, [], audit: false, CancellationToken.None)).Status);
        Assert.Equal([2, 1], pointedAtWhenAnnounced);
    }

    private static List<JsonObject> Audits(RecordingSink sink) =>
        [.. sink.Items.Where(i => i is { Kind: SinkItemKind.ServiceEvent, Event.Kind: "audit" }).Select(i => JsonNode.Parse(i.Event!.Json.Span)!.AsObject())];
}

using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Inspection.Access;
using Inspection.TestSupport;
using static Inspection.TestSupport.Waiting;
using Inspection.Worker.Control;

namespace Inspection.Worker.Tests;

/// <summary>Signed commands for brokers without ACLs, and commands that never hold up a trigger, against a real mosquitto.</summary>
[Collection("Worker processes")]
public sealed class SignedCommandTests
{
    private const string Line = "inspection/plant1/lineA";

    [Fact]
    public async Task With_signatures_required_a_missing_wrong_expired_or_replayed_signature_is_refused_and_a_valid_one_works()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var keys = folder.File("keys.json");
        Assert.Equal(0, (await CliRunner.RunAsync("command", "keygen", "--keys", keys, "--key-id", "hmi-1", "--role", "Operator")).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync("command", "keygen", "--keys", keys, "--key-id", "historian", "--role", "Scada")).ExitCode);
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["station"], fps: 5);
        settings["Inspection:Access:CommandKeysFile"] = keys;
        settings["Inspection:Access:RequireSignedCommands"] = "true";
        await using var worker = await InProcessWorker.StartAsync(settings);
        await using var operatorClient = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/#", "operator");
        var topic = $"{Line}/station/cmd/set-thresholds";
        var operatorKey = CommandKeys.Load(keys)["hmi-1"];

        var signed = await CliRunner.RunAsync("command", "sign", "--keys", keys, "--key-id", "hmi-1", "--topic", topic, "--payload", "{\"confidence\": 0.5}");
        Assert.True(signed.ExitCode == 0, signed.Stderr);
        var valid = signed.Stdout.Trim();
        var tampered = valid.Replace("0.5", "0.9", StringComparison.Ordinal);
        var expired = Encoding.UTF8.GetString(SignedCommand.Sign(operatorKey, topic, "{\"confidence\": 0.6}", DateTimeOffset.UtcNow.AddMinutes(-5)));
        var otherTopic = Encoding.UTF8.GetString(SignedCommand.Sign(operatorKey, $"{Line}/cmd/set-thresholds", "{\"confidence\": 0.6}", DateTimeOffset.UtcNow));
        var reader = Encoding.UTF8.GetString(SignedCommand.Sign(CommandKeys.Load(keys)["historian"], topic, "{\"confidence\": 0.6}", DateTimeOffset.UtcNow));
        string[] attempts = ["{\"confidence\": 0.7}", tampered, expired, otherTopic, reader, valid, valid];
        foreach (var attempt in attempts)
        {
            await operatorClient.PublishAsync(topic, attempt);
        }

        await WaitUntil(() => Replies(operatorClient, topic).Count == attempts.Length, "a reply to every attempt");
        var replies = Replies(operatorClient, topic);
        Assert.Contains("takes signed commands only", (string?)replies[0]["error"], StringComparison.Ordinal);
        Assert.Contains("signature does not match", (string?)replies[1]["error"], StringComparison.Ordinal);
        Assert.Contains("commands are taken within 30 s", (string?)replies[2]["error"], StringComparison.Ordinal);
        Assert.Contains("signature does not match", (string?)replies[3]["error"], StringComparison.Ordinal); // signed for another topic
        Assert.Contains("only operators may run 'set-thresholds'", (string?)replies[4]["error"], StringComparison.Ordinal);
        Assert.True((bool)replies[5]["ok"]!, replies[5].ToJsonString());
        Assert.Equal(0.5, (double)replies[5]["result"]!["station"]!["crack"]!);
        Assert.Contains("already received once", (string?)replies[6]["error"], StringComparison.Ordinal);

        await WaitUntil(() => Audits(operatorClient).Count == attempts.Length, "an audit event for every attempt");
        var audits = Audits(operatorClient);
        Assert.Equal(["refused", "refused", "refused", "refused", "refused", "accepted", "refused"], audits.Select(a => (string)a["outcome"]!));
        Assert.Equal(("hmi-1", "Operator", "signature"), ((string)audits[5]["user"]!, (string)audits[5]["role"]!, (string)audits[5]["via"]!));
    }

    [Fact]
    public async Task A_trigger_is_answered_in_time_while_a_slow_command_runs_and_the_slow_command_is_cancelled_at_its_timeout()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["station"], fps: 10);
        settings["Inspection:Cameras:0:Mode"] = "Triggered";
        settings["Inspection:Cameras:0:TriggerDeadline"] = "00:00:01";
        settings["Inspection:Access:CommandTimeout"] = "00:00:03";
        var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await InProcessWorker.StartAsync(settings);
        worker.Get<CommandRouter>().Register("slow", async (_, cancel) =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30), cancel);
            }
            catch (OperationCanceledException)
            {
                cancelled.TrySetResult(true);
                throw;
            }

            return null;
        }, steers: false);
        await using var plc = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/#", "plc");
        await WaitUntil(() => plc.Snapshot().Any(m => m.Topic == $"{Line}/station/status" && m.Payload.Contains("\"online\":true", StringComparison.Ordinal)), "the camera streaming");

        await plc.PublishAsync($"{Line}/cmd/slow", "{}");
        await Task.Delay(300); // the command is running
        var sent = Stopwatch.StartNew();
        await plc.PublishAsync($"{Line}/station/trigger", "{\"partId\": \"P-1\"}");
        await WaitUntil(() => Results(plc).Any(r => (string?)r["partId"] == "P-1"), "the trigger's verdict");
        var verdict = Results(plc).First(r => (string?)r["partId"] == "P-1");
        Assert.True(sent.Elapsed < TimeSpan.FromSeconds(1), $"the verdict came {sent.ElapsedMilliseconds} ms after the trigger");
        Assert.NotEqual(0, (long)verdict["sequence"]!); // inspected, not a missed deadline

        Assert.True(await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await WaitUntil(() => Replies(plc, $"{Line}/cmd/slow").Count == 1, "the slow command's reply");
        Assert.Contains("did not finish within 3 s and was cancelled", (string?)Replies(plc, $"{Line}/cmd/slow")[0]["error"], StringComparison.Ordinal);
        await WaitUntil(() => Audits(plc).Any(a => (string)a["outcome"]! == "timed_out"), "the timed-out command audited");
    }

    private static List<JsonNode> Replies(MqttSubscriber client, string topic) =>
        [.. client.Snapshot().Where(m => m.Topic == topic + "/reply").Select(m => JsonNode.Parse(m.Payload)!)];

    private static List<JsonNode> Audits(MqttSubscriber client) =>
        [.. client.Snapshot().Where(m => m.Topic == $"{Line}/service/audit").Select(m => JsonNode.Parse(m.Payload)!)];

    private static List<JsonNode> Results(MqttSubscriber client) =>
        [.. client.Snapshot().Where(m => m.Topic.EndsWith("/result", StringComparison.Ordinal)).Select(m => JsonNode.Parse(m.Payload)!)];

}

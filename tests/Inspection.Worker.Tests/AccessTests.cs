using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Inspection.TestSupport;
using static Inspection.TestSupport.Waiting;
using MQTTnet;

namespace Inspection.Worker.Tests;

/// <summary>
/// Only the right people steer the line: users and roles from one users file, enforced by a real mosquitto with the
/// files `inspection broker passwd|acl` write, and by the embedded broker; the worker audits what reaches it.
/// </summary>
[Collection("Worker processes")]
public sealed class AccessTests
{
    private const string Password = "line-password-1";
    private const string Line = "inspection/plant1/lineA";

    [Fact]
    public async Task With_mosquitto_and_the_written_ACL_a_SCADA_reader_and_a_PLC_cannot_steer_an_operator_can()
    {
        using var folder = new TempFolder();
        var users = await UsersAsync(folder);
        var passwd = folder.File("passwd");
        var acl = folder.File("acl");
        Assert.Equal(0, (await CliRunner.RunAsync("broker", "passwd", "--users", users, "--out", passwd)).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync("broker", "acl", "--users", users, "--site", "plant1", "--line", "lineA", "--out", acl)).ExitCode);
        using var broker = ServerProcess.Mosquitto(folder.Path, "allow_anonymous false", $"password_file {passwd}", $"acl_file {acl}", "log_type debug");
        await using var watcher = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/#", "watcher", "operator", Password);
        var settings = NgCamera(folder, broker.Port);
        settings["Inspection:Mqtt:Username"] = "worker";
        settings["Inspection:Mqtt:PasswordFile"] = PasswordFile(folder);
        await using var worker = await InProcessWorker.StartAsync(settings);
        await WaitUntil(() => Verdicts(watcher).Count >= 3, "results");
        Assert.All(Verdicts(watcher), v => Assert.Equal("NG", v));

        // A SCADA reader and a PLC try to steer: the broker refuses both (and logs it), the verdicts stay NG.
        await using var scada = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/+/result", "scada-1", "scada", Password);
        await using var plc = await MqttSubscriber.StartAsync(broker.Port, $"{Line}/+/result", "plc-1", "plc", Password);
        var refused = await scada.PublishAsync($"{Line}/station/cmd/set-thresholds", "{\"confidence\": 0.95}");
        var promote = await plc.PublishAsync($"{Line}/cmd/promote", "{\"version\": 2}");
        Assert.False(refused.IsSuccess, $"mosquitto took a SCADA reader's command: {refused.ReasonCode}");
        Assert.False(promote.IsSuccess, $"mosquitto took a PLC's promote: {promote.ReasonCode}");
        await WaitUntil(() => broker.Output.Count(l => l.Contains("Denied PUBLISH", StringComparison.Ordinal)) >= 2, "mosquitto's log of the two refusals");
        var before = Verdicts(watcher).Count;
        await WaitUntil(() => Verdicts(watcher).Count >= before + 5, "more results");
        Assert.All(Verdicts(watcher), v => Assert.Equal("NG", v));
        Assert.DoesNotContain(watcher.Snapshot(), m => m.Topic == $"{Line}/service/audit");
        Assert.NotEmpty(plc.Snapshot()); // the PLC and SCADA still read the results
        Assert.NotEmpty(scada.Snapshot());

        // The operator's command works, the next verdicts follow it, and the worker audits it.
        var accepted = await watcher.PublishAsync($"{Line}/station/cmd/set-thresholds", "{\"confidence\": 0.9}");
        Assert.True(accepted.IsSuccess, accepted.ReasonCode.ToString());
        await WaitUntil(() => watcher.Snapshot().Any(m => m.Topic == $"{Line}/service/audit"), "the audit event");
        var audit = JsonNode.Parse(watcher.Snapshot().First(m => m.Topic == $"{Line}/service/audit").Payload)!;
        Assert.Equal(("set-thresholds", "accepted", "station"), ((string)audit["command"]!, (string)audit["outcome"]!, (string)audit["camera"]!));
        await WaitUntil(() => Verdicts(watcher).TakeLast(3).All(v => v == "OK"), "verdicts under the operator's threshold");
    }

    [Fact]
    public async Task The_embedded_broker_enforces_the_same_users_and_roles_and_every_attempt_is_audited()
    {
        using var folder = new TempFolder();
        var port = ServerProcess.FreePort();
        var settings = NgCamera(folder, port);
        settings.Remove("Inspection:Mqtt:Host");
        settings["Inspection:Mqtt:EmbeddedBrokerPort"] = port.ToString(CultureInfo.InvariantCulture);
        settings["Inspection:Mqtt:Username"] = "worker";
        settings["Inspection:Mqtt:PasswordFile"] = PasswordFile(folder);
        settings["Inspection:Access:UsersFile"] = await UsersAsync(folder);
        await using var worker = await InProcessWorker.StartAsync(settings);
        await using var watcher = await MqttSubscriber.StartAsync(port, $"{Line}/#", "watcher", "operator", Password);
        await WaitUntil(() => Verdicts(watcher).Count >= 3, "results");

        // No password, a wrong password: refused, and audited.
        Assert.NotEqual(MqttClientConnectResultCode.Success, await ConnectAsync(port, null));
        Assert.NotEqual(MqttClientConnectResultCode.Success, await ConnectAsync(port, "guess"));

        // A SCADA reader's set-thresholds and a PLC's promote: refused by the broker, audited by the worker; verdicts stay NG.
        await using var scada = await MqttSubscriber.StartAsync(port, "#", "scada-1", "scada", Password);
        await using var plc = await MqttSubscriber.StartAsync(port, $"{Line}/+/result", "plc-1", "plc", Password);
        Assert.False((await scada.PublishAsync($"{Line}/station/cmd/set-thresholds", "{\"confidence\": 0.95}")).IsSuccess);
        Assert.False((await plc.PublishAsync($"{Line}/cmd/promote", "{\"version\": 2}")).IsSuccess);
        await WaitUntil(() => Audits(watcher).Count(a => (string)a["outcome"]! == "refused") >= 4, "four refusals audited");
        var refusals = Audits(watcher).Where(a => (string)a["outcome"]! == "refused").Select(a => $"{a["user"]} {a["command"]}").ToList();
        Assert.Contains("(none) connect", refusals);
        Assert.Contains("operator connect", refusals);
        Assert.Contains("scada set-thresholds", refusals);
        Assert.Contains("plc promote", refusals);
        var before = Verdicts(watcher).Count;
        await WaitUntil(() => Verdicts(watcher).Count >= before + 5, "more results");
        Assert.All(Verdicts(watcher), v => Assert.Equal("NG", v));
        Assert.DoesNotContain(scada.Snapshot(), m => !m.Topic.StartsWith(Line + "/", StringComparison.Ordinal)); // reads the line, nothing else

        // The operator steers; the worker knows who it was, from the broker's login.
        Assert.True((await watcher.PublishAsync($"{Line}/station/cmd/set-thresholds", "{\"confidence\": 0.9}")).IsSuccess);
        await WaitUntil(() => Audits(watcher).Any(a => (string)a["outcome"]! == "accepted"), "the operator's command audited");
        var accepted = Audits(watcher).First(a => (string)a["outcome"]! == "accepted");
        Assert.Equal(("operator", "Operator", "embedded broker"), ((string)accepted["user"]!, (string)accepted["role"]!, (string)accepted["via"]!));
        await WaitUntil(() => Verdicts(watcher).TakeLast(3).All(v => v == "OK"), "verdicts under the operator's threshold");
    }

    [Fact]
    public async Task The_shipped_ACL_is_what_the_example_users_give_and_password_hashes_are_mosquittos_own()
    {
        using var folder = new TempFolder();
        var shipped = Path.Combine(SharedData.RepositoryRoot, "deploy", "mosquitto");
        var written = await CliRunner.RunAsync("broker", "acl", "--users", Path.Combine(shipped, "users.example.json"), "--site", "site", "--line", "line", "--sparkplug-group", "Inspection", "--out", folder.File("acl"));
        Assert.True(written.ExitCode == 0, written.Stderr);
        Assert.Equal(File.ReadAllText(Path.Combine(shipped, "acl")), File.ReadAllText(folder.File("acl")));

        // A hash mosquitto_passwd made verifies here; ours is the same format (mosquitto logs ours in, in the test above).
        using (var passwd = Process.Start("mosquitto_passwd", ["-b", "-c", folder.File("passwd"), "alice", "s3cret-pass"]))
        {
            await passwd.WaitForExitAsync();
        }

        var hash = File.ReadAllText(folder.File("passwd")).Trim().Split(':', 2)[1];
        Assert.True(Access.PasswordHash.Verify("s3cret-pass", hash));
        Assert.False(Access.PasswordHash.Verify("s3cret-pasS", hash));

        // Bad input: a junk users file, a short password, an unknown role: one line, exit 2.
        File.WriteAllText(folder.File("junk.json"), "{\"users\": [{\"name\": \"a b\", \"role\": \"Operator\"}]}");
        var junk = await CliRunner.RunAsync("broker", "passwd", "--users", folder.File("junk.json"), "--out", folder.File("out"));
        Assert.Equal((2, 1), (junk.ExitCode, junk.Stderr.Trim().Split('\n').Length));
        Assert.Contains("is not a user name", junk.Stderr, StringComparison.Ordinal);
        var shortPassword = await CliRunner.RunWithInputAsync("short\n", "broker", "users", "add", "bob", "--role", "Operator", "--file", folder.File("users.json"));
        Assert.Equal(2, shortPassword.ExitCode);
        Assert.Contains("shorter than 8 characters", shortPassword.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, (await CliRunner.RunWithInputAsync(Password + "\n", "broker", "users", "add", "bob", "--role", "Admin", "--file", folder.File("users.json"))).ExitCode);
    }

    /// <summary>A users file with the four roles, each with <see cref="Password"/>, written by the CLI as an integrator would.</summary>
    internal static async Task<string> UsersAsync(TempFolder folder)
    {
        var users = folder.File("users.json");
        foreach (var (name, role) in new[] { ("worker", "Worker"), ("plc", "Plc"), ("operator", "Operator"), ("scada", "Scada") })
        {
            var added = await CliRunner.RunWithInputAsync(Password + "\n", "broker", "users", "add", name, "--role", role, "--file", users);
            Assert.True(added.ExitCode == 0, added.Stderr);
        }

        return users;
    }

    private static async Task<MqttClientConnectResultCode> ConnectAsync(int port, string? password)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("guesser");
        try
        {
            return (await client.ConnectAsync((password is null ? options : options.WithCredentials("operator", password)).Build())).ResultCode;
        }
        catch (MQTTnet.Adapter.MqttConnectingFailedException)
        {
            return MqttClientConnectResultCode.NotAuthorized; // refused at CONNACK
        }
    }

    private static string PasswordFile(TempFolder folder)
    {
        var path = folder.File("worker-password");
        File.WriteAllText(path, Password);
        return path;
    }

    /// <summary>A triggered-free camera "station" looping one picture the demo model finds a crack in (0.67 at its default threshold).</summary>
    private static Dictionary<string, string> NgCamera(TempFolder folder, int port)
    {
        var pictures = Directory.CreateDirectory(folder.File("ng")).FullName;
        var crack = Directory.GetFiles(InProcessSettings.DemoPictures, "*.jpg").Order(StringComparer.Ordinal).ElementAt(4);
        File.Copy(crack, Path.Combine(pictures, Path.GetFileName(crack)));
        var settings = InProcessSettings.Demo(folder, port, cameras: ["station"], fps: 5);
        settings["Inspection:Cameras:0:Uri"] = pictures;
        return settings;
    }

    private static List<string> Verdicts(MqttSubscriber watcher) =>
        [.. watcher.Snapshot().Where(m => m.Topic == $"{Line}/station/result").Select(m => (string)JsonNode.Parse(m.Payload)!["verdict"]!)];

    private static List<JsonNode> Audits(MqttSubscriber watcher) =>
        [.. watcher.Snapshot().Where(m => m.Topic == $"{Line}/service/audit").Select(m => JsonNode.Parse(m.Payload)!)];

}

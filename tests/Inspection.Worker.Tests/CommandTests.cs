using System.Globalization;
using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

[Collection("Worker processes")]
public sealed class CommandTests
{
    [Fact]
    public async Task Thresholds_reload_when_the_file_changes_refuse_a_broken_file_and_can_be_set_by_command()
    {
        using var folder = new TempFolder();
        var config = folder.File("worker.json");
        await File.WriteAllTextAsync(config, Rules(0.25));
        var brokerPort = ServerProcess.FreePort();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Cameras:0:Id"] = "demo",
            ["Inspection:Cameras:0:Uri"] = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo"),
            ["Inspection:Cameras:0:Loop"] = "true",
        }, "--config", config);
        await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));
        await using var operatorClient = await MqttSubscriber.StartAsync(brokerPort, "inspection/site/line/#", "operator");

        Assert.Equal(0.25, await CrackThresholdAsync(operatorClient, worker));

        await File.WriteAllTextAsync(config, Rules(0.6));
        await PipelineTests.Until(() => CrackThresholdAsync(operatorClient, worker).GetAwaiter().GetResult() == 0.6, "the changed file to apply", worker);

        await File.WriteAllTextAsync(config, Rules(7));
        await worker.WaitForLineAsync("The changed configuration was not applied", TimeSpan.FromSeconds(30));
        Assert.Equal(0.6, await CrackThresholdAsync(operatorClient, worker));

        var set = await CommandAsync(operatorClient, "inspection/site/line/demo/cmd/set-thresholds", "{\"class\": \"crack\", \"confidence\": 0.4}");
        Assert.True(set.GetProperty("ok").GetBoolean());
        Assert.Equal(0.4, set.GetProperty("result").GetProperty("demo").GetProperty("crack").GetDouble());
        var refused = await CommandAsync(operatorClient, "inspection/site/line/demo/cmd/set-thresholds", "{\"confidence\": 2}");
        Assert.False(refused.GetProperty("ok").GetBoolean());
        Assert.Contains("outside 0.05..0.95, the range commands may set", refused.GetProperty("error").GetString());
        PipelineTests.StopCleanly(worker);
    }

    private static string Rules(double confidence) =>
        $"{{\"Inspection\": {{\"Rules\": {{\"Classes\": {{\"crack\": {{\"Confidence\": {confidence.ToString(CultureInfo.InvariantCulture)}}}}}}}}}}}";

    private static async Task<double> CrackThresholdAsync(MqttSubscriber client, WorkerProcess worker)
    {
        var reply = await CommandAsync(client, "inspection/site/line/cmd/get-thresholds", "{}");
        return reply.GetProperty("result").GetProperty("demo").GetProperty("crack").GetDouble();
    }

    internal static async Task<JsonElement> CommandAsync(MqttSubscriber client, string topic, string payload)
    {
        var id = Guid.NewGuid().ToString("N");
        var arguments = JsonSerializer.Deserialize<Dictionary<string, object>>(payload)!;
        arguments["id"] = id;
        await client.PublishAsync(topic, JsonSerializer.Serialize(arguments));
        for (var i = 0; i < 300; i++) // a promotion checks and loads a model (a child process first): seconds on a busy machine
        {
            var reply = client.Snapshot().Where(m => m.Topic == topic + "/reply").Select(m => JsonDocument.Parse(m.Payload).RootElement).FirstOrDefault(r => r.TryGetProperty("id", out var got) && got.GetString() == id);
            if (reply.ValueKind == JsonValueKind.Object)
            {
                return reply;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"no reply to {topic}");
    }
}

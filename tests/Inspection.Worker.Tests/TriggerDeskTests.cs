using System.Text;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.TestSupport;
using static Inspection.TestSupport.Waiting;
using Inspection.Worker.Control;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Worker.Tests;

/// <summary>The trigger desk in-process, with no transport: triggers handed to it directly, answers read from a recording sink.</summary>
[Collection("Worker processes")]
public sealed class TriggerDeskTests
{
    [Fact]
    public async Task Each_trigger_gets_exactly_one_verdict_with_its_part_id_and_reply_address_and_refusals_are_replies()
    {
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["station"], fps: 10);
        settings["Inspection:Cameras:0:Mode"] = "Triggered";
        settings["Inspection:Cameras:0:TriggerDeadline"] = "00:00:01";
        await using var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IResultSink>(recording));
        var desk = worker.Get<TriggerDesk>();
        var replyTo = new ReplyAddress(recording.Name, "plc/replies", "plc/results", new byte[] { 4, 2 });
        await WaitUntil(() => recording.Items.Any(i => i is { Kind: SinkItemKind.CameraStatus, Status.State: SourceState.Streaming }), "the camera streaming");

        for (var i = 1; i <= 10; i++)
        {
            await desk.HandleAsync("station", Encoding.UTF8.GetBytes($"{{\"partId\": \"A-{i}\"}}"), replyTo);
            await Task.Delay(50);
        }

        // A trigger newer than any frame there will be before its deadline: the deadline's UNKNOWN answers it.
        var future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await desk.HandleAsync("station", Encoding.UTF8.GetBytes($"{{\"partId\": \"late\", \"time\": {future}}}"), replyTo);
        await desk.HandleAsync("nowhere", Encoding.UTF8.GetBytes("{\"partId\": \"x\"}"), replyTo);
        await desk.HandleAsync("station", Encoding.UTF8.GetBytes("{not json"), replyTo);
        await WaitUntil(() => recording.Results.Count(r => r.PartId is not null) == 11 && recording.Items.Count(i => i.Kind == SinkItemKind.Reply) == 2, "eleven verdicts and two refusals");
        await Task.Delay(1500); // a second verdict for any trigger would come by now

        var answers = recording.Items.Where(i => i.Kind == SinkItemKind.Result && i.Result!.PartId is not null).ToList();
        Assert.Equal(Enumerable.Range(1, 10).Select(i => $"A-{i}").Append("late"), answers.Select(a => a.Result!.PartId));
        Assert.All(answers, a => Assert.Same(replyTo, a.ReplyTo));
        Assert.All(answers.Take(10), a => Assert.True(a.Result!.Sequence > 0 && a.Result.Verdict != Verdict.Unknown, $"{a.Result.PartId}: {a.Result.Verdict} {a.Result.Reason}"));
        Assert.Equal(10, answers.Take(10).Select(a => a.Result!.Sequence).Distinct().Count());
        var late = answers[^1].Result!;
        Assert.Equal((0L, Verdict.Unknown), (late.Sequence, late.Verdict));
        Assert.StartsWith("deadline missed", late.Reason, StringComparison.Ordinal);

        var refusals = recording.Items.Where(i => i.Kind == SinkItemKind.Reply).Select(i => JsonNode.Parse(i.ReplyJson.Span)!).ToList();
        Assert.StartsWith("no camera 'nowhere' here", (string?)refusals[0]["error"], StringComparison.Ordinal);
        Assert.StartsWith("the trigger is not JSON", (string?)refusals[1]["error"], StringComparison.Ordinal);
        Assert.All(refusals, r => Assert.False((bool)r["ok"]!));
    }

}

using System.Globalization;
using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

[Collection("Worker processes")]
public sealed partial class ShutdownTests
{
    [Fact]
    public async Task Sigterm_while_the_broker_is_down_loses_nothing_the_queue_delivers_it_after_a_restart()
    {
        var video = SharedData.Require("media/traffic_cKuhn517_MIT.mp4");
        using var folder = new TempFolder();
        using var broker = ServerProcess.Mosquitto(folder.Path);
        var port = broker.Port.ToString(CultureInfo.InvariantCulture);
        await using var scada = await MqttSubscriber.StartAsync(broker.Port, "inspection/site/line/file/result", "scada");
        var settings = new Dictionary<string, string>
        {
            ["Inspection:Cameras:0:Id"] = "file",
            ["Inspection:Cameras:0:Uri"] = video,
            ["Inspection:Cameras:0:Policy"] = "DeliverAll",
            ["Inspection:Mqtt:Host"] = "127.0.0.1",
            ["Inspection:Mqtt:Port"] = port,
            ["Inspection:Mqtt:ReconnectMaxDelay"] = "00:00:00.500",
            ["Inspection:Evidence:Enabled"] = "false",
        };

        long taken;
        using (var worker = WorkerProcess.Start(folder.Path, settings))
        {
            await worker.WaitForLineAsync("Inspecting file", TimeSpan.FromSeconds(60));
            await PipelineTests.Until(() => PublishedResult.Of(scada).Count > 10, "results flowing", worker);
            broker.Stop();
            await Task.Delay(TimeSpan.FromSeconds(2)); // results go on into the disk queue
            PipelineTests.StopCleanly(worker);
            var summary = worker.Lines.Select(l => Summary().Match(l)).Single(m => m.Success);
            taken = long.Parse(summary.Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.Equal(taken, long.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture));
            Assert.Contains(worker.Lines, l => l.Contains("were not acknowledged before shutdown", StringComparison.Ordinal));
        }

        Assert.True(PublishedResult.Of(scada).Count < taken, "the broker was down: some results must have waited on disk");

        // The broker and the worker come back (on another camera); the queue from the first run goes out first.
        broker.Start();
        settings["Inspection:Cameras:0:Id"] = "other";
        settings["Inspection:Cameras:0:Uri"] = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo");
        settings.Remove("Inspection:Cameras:0:Policy");
        using (var again = WorkerProcess.Start(folder.Path, settings))
        {
            await PipelineTests.Until(() => PublishedResult.Of(scada).Select(r => r.Sequence).Distinct().Count() >= taken, $"all {taken} results of the first run", again);
            PipelineTests.StopCleanly(again);
        }

        var sequences = PublishedResult.Of(scada).Select(r => r.Sequence).Distinct().Order().ToList();
        Assert.Equal(Enumerable.Range(1, (int)taken).Select(i => (long)i), sequences);
    }

    [GeneratedRegex(@"Camera file: (\d+) frames taken for inspection, (\d+) results published")]
    private static partial Regex Summary();
}

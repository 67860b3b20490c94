using System.Diagnostics;
using System.Globalization;
using Inspection.TestSupport;
using Inspection.Worker.Observability;

namespace Inspection.Worker.Tests;

/// <summary><c>inspection-worker probe</c>, a container's HEALTHCHECK, against a real worker process.</summary>
[Collection("Worker processes")]
public sealed class ProbeTests
{
    [Theory]
    [InlineData("http://0.0.0.0:9400", "http://127.0.0.1:9400/health/live")]
    [InlineData("http://+:9400", "http://127.0.0.1:9400/health/live")]
    [InlineData("http://*:9400/", "http://127.0.0.1:9400/health/live")]
    [InlineData("http://[::]:9400", "http://127.0.0.1:9400/health/live")]
    [InlineData("http://localhost:9400", "http://localhost:9400/health/live")]
    [InlineData("http://10.1.2.3:9400;http://127.0.0.1:9401", "http://10.1.2.3:9400/health/live")]
    public void A_wildcard_listener_is_probed_on_loopback(string listen, string probed) => Assert.Equal(probed, HealthProbe.LiveUri(listen).ToString());

    [Fact]
    public async Task The_probe_reads_the_workers_configuration_and_says_in_one_line_whether_it_is_healthy()
    {
        using var folder = new TempFolder();
        var port = ServerProcess.FreePort();
        var configuration = new Dictionary<string, string>
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Inspection:Http:Url"] = $"http://0.0.0.0:{port}", // as in a container: every address
        };
        var file = folder.File("worker.json");
        File.WriteAllText(file, $$"""{ "Inspection": { "Http": { "Url": "http://0.0.0.0:{{port}}" } } }""");

        // Nothing listens yet: unhealthy, one line naming where it asked.
        var down = await Probe(folder.Path, new() { ["INSPECTION_CONFIG"] = file });
        Assert.Equal(HealthProbe.Unhealthy, down.ExitCode);
        Assert.Contains($"http://127.0.0.1:{port}/health/live", Assert.Single(down.Lines));

        using var worker = WorkerProcess.Start(folder.Path, configuration);
        await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));

        // From the configuration file (INSPECTION_CONFIG), from the environment, and given the address.
        foreach (var (environment, args) in new (Dictionary<string, string>, string[])[]
        {
            (new() { ["INSPECTION_CONFIG"] = file }, []),
            (new() { ["Inspection__Http__Url"] = $"http://0.0.0.0:{port}" }, []),
            (new(), [$"http://127.0.0.1:{port}"]),
        })
        {
            var up = await Probe(folder.Path, environment, args);
            Assert.True(up.ExitCode == HealthProbe.Healthy, string.Join('\n', up.Lines));
            Assert.Contains("is healthy", Assert.Single(up.Lines));
        }

        PipelineTests.StopCleanly(worker);
        var stopped = await Probe(folder.Path, new() { ["INSPECTION_CONFIG"] = file });
        Assert.Equal(HealthProbe.Unhealthy, stopped.ExitCode);

        // A configuration the worker would refuse: unhealthy, and why, in one line.
        var broken = await Probe(folder.Path, new() { ["INSPECTION_CONFIG"] = folder.File("absent.json") });
        Assert.Equal(HealthProbe.Unhealthy, broken.ExitCode);
        Assert.Contains("absent.json", Assert.Single(broken.Lines));
    }

    private sealed record Run(int ExitCode, List<string> Lines);

    private static async Task<Run> Probe(string folder, Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [WorkerProcess.WorkerPath, HealthProbe.Command, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = folder };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var probe = Process.Start(start)!;
        var output = probe.StandardOutput.ReadToEndAsync();
        var error = probe.StandardError.ReadToEndAsync();
        var watch = Stopwatch.StartNew();
        await probe.WaitForExitAsync();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the probe took {watch.Elapsed}");
        return new Run(probe.ExitCode, [.. (await output + await error).Split('\n', StringSplitOptions.RemoveEmptyEntries)]);
    }
}

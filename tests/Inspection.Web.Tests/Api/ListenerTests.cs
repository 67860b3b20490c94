using System.Globalization;
using System.Net;
using Inspection.TestSupport;

namespace Inspection.Web.Tests;

/// <summary>
/// The real worker with its two listeners: /metrics and /health only on Inspection:Http:Url, the screen only on
/// Inspection:Web:Url, so opening one to the plant network never opens the other.
/// </summary>
public sealed class ListenerTests
{
    [Fact]
    public async Task Each_listener_serves_only_its_own_endpoints()
    {
        using var folder = new TempFolder();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Inspection:Evidence:Enabled"] = "false",
        });
        var banner = await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));
        Assert.Contains($"Screen: {worker.WebUrl}/", banner, StringComparison.Ordinal);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = $"http://127.0.0.1:{worker.HttpPort}";
        foreach (var (url, expected) in new[]
        {
            ($"{metrics}/metrics", HttpStatusCode.OK),
            ($"{metrics}/health/live", HttpStatusCode.OK),
            ($"{worker.WebUrl}/api/cameras", HttpStatusCode.OK), // no users file: everyone on this host views
            ($"{worker.WebUrl}/", HttpStatusCode.OK),
            ($"{worker.WebUrl}/metrics", HttpStatusCode.NotFound),
            ($"{worker.WebUrl}/health/ready", HttpStatusCode.NotFound),
            ($"{metrics}/", HttpStatusCode.NotFound),
            ($"{metrics}/api/cameras", HttpStatusCode.NotFound),
            ($"{metrics}/api/evidence/x.jpg", HttpStatusCode.NotFound),
            ($"{metrics}/assets/app.js", HttpStatusCode.NotFound),
        })
        {
            using var response = await http.GetAsync(url);
            Assert.True(expected == response.StatusCode, $"{url}: {(int)response.StatusCode}, expected {(int)expected}");
        }
    }

    [Fact]
    public void A_screen_on_the_metrics_port_or_open_over_plain_http_is_refused_before_anything_starts()
    {
        using var folder = new TempFolder();
        var port = ServerProcess.FreePort();
        foreach (var (web, expected) in new[]
        {
            ($"http://127.0.0.1:{port}", $"Inspection:Web:Url 'http://127.0.0.1:{port}' has the port of Inspection:Http:Url ({port})"),
            ("http://0.0.0.0:9401", "Inspection:Web:Url 'http://0.0.0.0:9401' is reachable from other hosts over plain http"),
        })
        {
            using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
            {
                ["Inspection:Http:Url"] = $"http://127.0.0.1:{port}",
                ["Inspection:Web:Url"] = web,
            });
            Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains(worker.Lines, l => l.Contains(expected, StringComparison.Ordinal));
            Assert.DoesNotContain(worker.Lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

[Collection("Worker processes")]
public sealed class ObservabilityTests
{
    [Fact]
    public async Task Metrics_pass_promtool_a_real_prometheus_scrapes_them_and_health_says_ready()
    {
        using var folder = new TempFolder();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Inspection:Cameras:0:Id"] = "demo",
            ["Inspection:Cameras:0:Uri"] = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo"),
            ["Inspection:Cameras:0:Loop"] = "true",
            ["Inspection:Cameras:0:FolderFps"] = "20",
        });
        await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));
        await PipelineTests.Until(() => Inspected(worker) > 5, "frames inspected", worker);

        // The exposition is valid Prometheus text: promtool reads it from stdin.
        var exposition = await worker.GetAsync("/metrics");
        var check = new ProcessStartInfo("promtool", ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using (var promtool = Process.Start(check)!)
        {
            await promtool.StandardInput.WriteAsync(exposition);
            promtool.StandardInput.Close();
            var problems = await promtool.StandardError.ReadToEndAsync() + await promtool.StandardOutput.ReadToEndAsync();
            await promtool.WaitForExitAsync();
            Assert.True(promtool.ExitCode == 0, $"promtool check metrics: {problems}");
        }

        foreach (var series in new[] { "inspection_frames_read_total", "inspection_frames_dropped_total", "inspection_camera_state", "inspection_frame_age_seconds", "inspection_inference_seconds", "inspection_publish_seconds", "inspection_capture_to_publish_seconds", "inspection_batch_size", "inspection_verdicts_total", "inspection_mqtt_queue_depth", "inspection_model_info" })
        {
            Assert.Contains("\n" + series, exposition);
        }

        // A real Prometheus scrapes the worker.
        using var prometheus = ServerProcess.Prometheus(folder.Path, $"127.0.0.1:{worker.HttpPort}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{prometheus.Port}") };
        double scraped = 0;
        await PipelineTests.Until(() =>
        {
            string body;
            try
            {
                body = http.GetStringAsync("/api/v1/query?query=inspection_frames_inspected_total").GetAwaiter().GetResult();
            }
            catch (HttpRequestException)
            {
                return false; // Prometheus answers 503 until it has started
            }

            var result = JsonDocument.Parse(body).RootElement.GetProperty("data").GetProperty("result");
            scraped = result.GetArrayLength() == 0 ? 0 : double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
            return scraped > 0;
        }, "Prometheus to scrape the worker", worker);
        var up = JsonDocument.Parse(await http.GetStringAsync("/api/v1/query?query=up{job=\"inspection\"}")).RootElement.GetProperty("data").GetProperty("result")[0];
        Assert.Equal("1", up.GetProperty("value")[1].GetString());

        var ready = JsonDocument.Parse(await worker.GetAsync("/health/ready")).RootElement;
        Assert.Equal("Healthy", ready.GetProperty("status").GetString());
        Assert.Equal("Healthy", JsonDocument.Parse(await worker.GetAsync("/health/live")).RootElement.GetProperty("status").GetString());
        PipelineTests.StopCleanly(worker);
    }

    private static double Inspected(WorkerProcess worker)
    {
        try
        {
            return PipelineTests.Metric(worker.GetAsync("/metrics").GetAwaiter().GetResult(), "inspection_frames_inspected_total{camera=\"demo\"}");
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException)
        {
            return 0;
        }
    }
}

using System.Text.Json;
using Inspection.Core;
using Inspection.Worker.Output;
using Inspection.Worker.Pipeline;
using Inspection.Worker.Serving;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Inspection.Worker.Observability;

/// <summary>Ready to inspect: the model is loaded, at least one camera streams, and MQTT is connected or its queue still takes results.</summary>
public sealed class ReadinessCheck(ModelHost model, CameraFeeds feeds, MessagingHost messaging) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var streaming = feeds.Where(f => f.Source.State == SourceState.Streaming).Select(f => f.Id).ToList();
        var publisher = messaging.Session;
        var data = new Dictionary<string, object>
        {
            ["modelLoaded"] = model.IsLoaded,
            ["camerasStreaming"] = streaming,
            ["mqttConnected"] = publisher.IsConnected,
            ["mqttQueued"] = publisher.Counters.QueueDepth,
        };
        var problems = new List<string>();
        if (!model.IsLoaded)
        {
            problems.Add("the model is not loaded");
        }

        if (streaming.Count == 0)
        {
            problems.Add("no camera is streaming");
        }

        if (!publisher.IsConnected && publisher.LastError is { } error && publisher.Counters.Dropped > 0)
        {
            problems.Add($"MQTT is down ({error}) and its queue is dropping results");
        }

        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy(publisher.IsConnected ? "inspecting" : "inspecting; results wait in the MQTT queue", data)
            : HealthCheckResult.Unhealthy(string.Join("; ", problems), data: data));
    }

    /// <summary>The health report as JSON: {"status": ..., "checks": {name: {status, description, data}}}.</summary>
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description, data = e.Value.Data }),
        }));
    }
}

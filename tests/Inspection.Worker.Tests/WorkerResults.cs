using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

/// <summary>A published result as a test reads it back from MQTT.</summary>
public sealed record PublishedResult(string Topic, string Camera, long Sequence, string Verdict, string? Reason, string? PartId, byte[]? CorrelationData)
{
    public static PublishedResult? From(string topic, string payload, byte[]? correlationData = null)
    {
        if (!topic.EndsWith("/result", StringComparison.Ordinal))
        {
            return null;
        }

        using var json = JsonDocument.Parse(payload);
        var root = json.RootElement;
        return new PublishedResult(
            topic,
            root.GetProperty("camera").GetString()!,
            root.GetProperty("sequence").GetInt64(),
            root.GetProperty("verdict").GetString()!,
            root.TryGetProperty("reason", out var reason) ? reason.GetString() : null,
            root.TryGetProperty("partId", out var part) ? part.GetString() : null,
            correlationData);
    }

    public static List<PublishedResult> Of(MqttSubscriber subscriber) =>
        [.. subscriber.Snapshot().Select(m => From(m.Topic, m.Payload, m.CorrelationData)).OfType<PublishedResult>()];

    /// <summary>mosquitto_sub -v prints "topic payload".</summary>
    public static List<PublishedResult> Of(MosquittoSub subscriber)
    {
        List<string> lines;
        lock (subscriber.Lines)
        {
            lines = [.. subscriber.Lines];
        }

        return [.. lines.Select(l => l.Split(' ', 2)).Where(p => p.Length == 2).Select(p => From(p[0], p[1])).OfType<PublishedResult>()];
    }
}

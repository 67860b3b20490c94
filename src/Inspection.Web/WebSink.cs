using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;

namespace Inspection.Web;

/// <summary>
/// The screen as one more output of the worker: results go to the feed ring, the shift counts and the camera
/// cards, then to every connected reader; camera states and service events (model, heartbeat, audit) likewise.
/// Replies are not its business: web commands get their answer straight from <see cref="ILineCommands"/>.
/// </summary>
public sealed class WebSink(WebOptions options, FeedRing feed, ShiftCounters shift, CameraBoard board, SseHub hub, TimeProvider time) : IResultSink
{
    public const int AuditKept = 100;
    private readonly Dictionary<string, JsonNode?> _lastEvents = new(StringComparer.Ordinal);
    private readonly Queue<JsonNode?> _audit = new();
    private readonly Lock _lock = new();
    private readonly string? _evidenceBaseUrl = options.EvidenceBaseUrl();
    private long _seq;

    public string Name => "web";

    public SinkBufferOptions Buffer => options.Buffer;

    public Task StartAsync(CancellationToken cancel) => Task.CompletedTask;

    public ValueTask WriteAsync(SinkItem item, CancellationToken cancel)
    {
        switch (item.Kind)
        {
            case SinkItemKind.Result when item.Result is { } result:
                var summary = ResultSummary.Of(++_seq, result, _evidenceBaseUrl);
                feed.Add(summary);
                shift.Count(result.CameraId, result.Verdict);
                board.Saw(result, time.GetTimestamp());
                hub.Publish(new SseEvent("result", summary.Seq, JsonSerializer.SerializeToUtf8Bytes(summary, WebJson.Options), summary));
                break;
            case SinkItemKind.CameraStatus when item.Status is { } status:
                board.Changed(status);
                hub.Publish(new SseEvent("camera", null, JsonSerializer.SerializeToUtf8Bytes(new { camera = status.CameraId, state = status.State.ToString().ToLowerInvariant(), status.Reason, status.Since }, WebJson.Options)));
                break;
            case SinkItemKind.ServiceEvent when item.Event is { } serviceEvent:
                Keep(serviceEvent);
                hub.Publish(new SseEvent(serviceEvent.Kind, null, serviceEvent.Json));
                break;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The last body of a service event kind ("model", "heartbeat"), null before the first.</summary>
    public JsonNode? LastEvent(string kind)
    {
        lock (_lock)
        {
            return _lastEvents.GetValueOrDefault(kind)?.DeepClone();
        }
    }

    /// <summary>The newest audit events first.</summary>
    public IReadOnlyList<JsonNode?> Audit(int limit)
    {
        lock (_lock)
        {
            return [.. _audit.Reverse().Take(limit).Select(a => a?.DeepClone())];
        }
    }

    public Task<bool> FlushAsync(TimeSpan deadline) => Task.FromResult(true);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Keep(ServiceEvent serviceEvent)
    {
        JsonNode? body;
        try
        {
            body = JsonNode.Parse(serviceEvent.Json.Span);
        }
        catch (JsonException)
        {
            return; // not ours to judge; the SSE readers get it as it is
        }

        lock (_lock)
        {
            if (serviceEvent.Kind == "audit")
            {
                _audit.Enqueue(body);
                if (_audit.Count > AuditKept)
                {
                    _audit.Dequeue();
                }
            }
            else
            {
                _lastEvents[serviceEvent.Kind] = body;
            }
        }
    }
}

/// <summary>The screen's JSON: camelCase, nulls written, enums as text.</summary>
public static class WebJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}

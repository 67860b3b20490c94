using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Inspection.Web;

/// <summary>The cameras' cards, the shift's counts, the results kept, and the live event stream.</summary>
internal static class FeedEndpoints
{
    public const int MaxPage = 500;

    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/cameras", (LineState line) => Results.Json(line.Cameras(), WebJson.Options));
        api.MapGet("/shift", (LineState line) => Results.Json(line.Shift(), WebJson.Options));
        api.MapGet("/results", Page);
        api.MapGet("/events", EventStream.RunAsync);
    }

    private static IResult Page(FeedRing feed, string? camera, string? verdict, string? @class, long? before, int? limit)
    {
        var size = Math.Clamp(limit ?? 100, 1, MaxPage);
        var items = feed.Before(before ?? long.MaxValue, size, FeedFilter.Parse(camera, verdict, @class));
        return Results.Json(new { items, next = items.Count == size ? items[^1].Seq : (long?)null }, WebJson.Options);
    }
}

/// <summary>
/// GET /api/events: server-sent events. Results (filtered by camera, verdict and class) with their feed sequence as
/// id, "stats" every second, camera states, model and heartbeat events, audit events for operators, and "gap"
/// when this reader's own queue overflowed (the page then refetches /api/results). Each write drains what is
/// queued and flushes once; awaiting that flush is the back-pressure, so a slow reader only fills its own queue.
/// A reconnect with Last-Event-ID first gets the newer results the ring still has. The stream ends with its session
/// (signed out or expired).
/// </summary>
internal static class EventStream
{
    public const int MaxBatch = 64;
    private static readonly TimeSpan StatsEvery = TimeSpan.FromSeconds(1);

    public static async Task RunAsync(HttpContext context, SseHub hub, FeedRing feed, LineState line, StreamGate gate, WebSessions sessions, string? camera, string? verdict, string? @class)
    {
        using var lease = gate.TryEnter();
        if (lease is null)
        {
            context.Response.Headers.RetryAfter = "5";
            await WebHttp.Error(503, "too many live streams are open; close one or raise Inspection:Web:Live:MaxStreams").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        var filter = FeedFilter.Parse(camera, verdict, @class);
        var isOperator = context.User.IsInRole(WebUsers.OperatorRole);
        using var subscription = hub.Subscribe(filter, isOperator);
        var response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        // The stream ends when the reader goes away or its session ends; a write under way is finished first.
        var aborted = context.RequestAborted;
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(aborted, sessions.Ending(context.User));
        var cancel = ending.Token;
        var text = new StringBuilder();

        long lastSent = 0;
        if (long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var lastSeen))
        {
            foreach (var missed in feed.After(lastSeen, filter))
            {
                Append(text, "result", missed.Seq, JsonSerializer.SerializeToUtf8Bytes(missed, WebJson.Options));
                lastSent = missed.Seq;
            }
        }

        Append(text, "stats", null, line.Stats());
        try
        {
            await WriteAsync(response, text, aborted).ConfigureAwait(false);
            var nextStats = DateTime.UtcNow + StatsEvery;
            while (!cancel.IsCancellationRequested)
            {
                var wait = nextStats - DateTime.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                    timeout.CancelAfter(wait);
                    try
                    {
                        if (!await subscription.Reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                        {
                            return;
                        }
                    }
                    catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                    {
                        // time for stats
                    }
                }

                for (var n = 0; n < MaxBatch && subscription.Reader.TryRead(out var item); n++)
                {
                    if (item.Id is not { } id || id > lastSent)
                    {
                        Append(text, item.Name, item.Id, item.Data.Span);
                        lastSent = item.Id ?? lastSent;
                    }
                }

                if (subscription.TakeMissed() is > 0 and var lost)
                {
                    Append(text, "gap", null, JsonSerializer.SerializeToUtf8Bytes(new { missed = lost }, WebJson.Options));
                }

                if (DateTime.UtcNow >= nextStats)
                {
                    Append(text, "stats", null, line.Stats());
                    nextStats = DateTime.UtcNow + StatsEvery;
                }

                await WriteAsync(response, text, aborted).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // the reader went away, or its session ended
        }
    }

    private static void Append(StringBuilder text, string name, long? id, ReadOnlySpan<byte> json)
    {
        text.Append("event: ").Append(name).Append('\n');
        if (id is { } value)
        {
            text.Append("id: ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("data: ").Append(Encoding.UTF8.GetString(json).Replace("\n", "\ndata: ", StringComparison.Ordinal)).Append("\n\n");
    }

    private static async Task WriteAsync(HttpResponse response, StringBuilder text, CancellationToken cancel)
    {
        if (text.Length > 0)
        {
            await response.WriteAsync(text.ToString(), cancel).ConfigureAwait(false);
            text.Clear();
        }

        await response.Body.FlushAsync(cancel).ConfigureAwait(false);
    }
}

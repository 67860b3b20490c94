using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Inspection.Web;

/// <summary>
/// A camera's live picture: latest.jpg (a long-poll for a newer frame, as Frigate's) and stream.mjpg. The stream
/// keeps no queue per client: while a write waits for a slow client, newer frames replace older ones in the
/// camera's slot and the next part sent is the newest, so a slow client gets fewer frames, never a backlog. The
/// stream ends with its session (signed out or expired).
/// </summary>
internal static class LiveEndpoints
{
    public const string Boundary = "inspectionframe";
    private static readonly TimeSpan LongPoll = TimeSpan.FromSeconds(2);

    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/cameras/{id}/latest.jpg", LatestAsync);
        api.MapGet("/cameras/{id}/stream.mjpg", StreamAsync);
    }

    private static async Task<IResult> LatestAsync(HttpContext context, string id, long? after, CameraBoard board, LiveFrames live)
    {
        if (!board.Knows(id))
        {
            return WebHttp.Error(404, $"no camera '{id}'");
        }

        live.Arm(id, Stopwatch.GetTimestamp());
        var slot = live.Slot(id);
        var frame = slot.Frame;
        if (frame is null || frame.Version <= (after ?? -1))
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            wait.CancelAfter(LongPoll);
            try
            {
                frame = await slot.NextAsync(after ?? 0, wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                frame = slot.Frame; // nothing newer in time: the current one
            }
        }

        if (frame is null)
        {
            context.Response.Headers.RetryAfter = "1";
            return WebHttp.Error(503, $"camera '{id}' has no frame yet");
        }

        var headers = context.Response.Headers;
        headers.ETag = $"\"{frame.Version}\"";
        headers["X-Frame-Version"] = frame.Version.ToString(CultureInfo.InvariantCulture);
        headers["X-Frame-Sequence"] = frame.Sequence.ToString(CultureInfo.InvariantCulture);
        headers["X-Verdict"] = ResultSummary.VerdictText(frame.Verdict);
        headers["X-Source-Size"] = string.Create(CultureInfo.InvariantCulture, $"{frame.SourceWidth}x{frame.SourceHeight}");
        return Results.Bytes(frame.Jpeg, "image/jpeg");
    }

    private static async Task StreamAsync(HttpContext context, string id, double? fps, CameraBoard board, LiveFrames live, StreamGate gate, WebOptions options, WebSessions sessions)
    {
        if (!board.Knows(id))
        {
            await WebHttp.Error(404, $"no camera '{id}'").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        using var lease = gate.TryEnter();
        if (lease is null)
        {
            context.Response.Headers.RetryAfter = "5";
            await WebHttp.Error(503, "too many live streams are open; close one or raise Inspection:Web:Live:MaxStreams").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        var rate = Math.Clamp(fps ?? options.Live.MaxFps, 0.1, options.Live.MaxFps);
        var interval = TimeSpan.FromSeconds(1 / rate);
        var slot = live.Slot(id);
        using var watching = slot.Watch();
        var response = context.Response;
        response.ContentType = $"multipart/x-mixed-replace; boundary={Boundary}";
        response.Headers.CacheControl = "no-store";
        // The stream ends when the viewer goes away or its session ends; a frame under way is finished first.
        var aborted = context.RequestAborted;
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(aborted, sessions.Ending(context.User));
        var cancel = ending.Token;
        long version = 0;
        var lastSent = Stopwatch.GetTimestamp() - (long)(interval.TotalSeconds * Stopwatch.Frequency);
        try
        {
            await response.Body.FlushAsync(aborted).ConfigureAwait(false); // the headers now: the viewer knows it is connected before the first frame
            while (!cancel.IsCancellationRequested)
            {
                var frame = await slot.NextAsync(version, cancel).ConfigureAwait(false);
                var due = interval - Stopwatch.GetElapsedTime(lastSent);
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, cancel).ConfigureAwait(false);
                    frame = slot.Frame ?? frame; // the newest after the pause
                }

                var head = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
                    $"--{Boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {frame.Jpeg.Length}\r\nX-Frame-Version: {frame.Version}\r\nX-Capture-Time: {frame.Capture.UtcDateTime:O}\r\n\r\n"));
                await response.Body.WriteAsync(head, aborted).ConfigureAwait(false);
                await response.Body.WriteAsync(frame.Jpeg, aborted).ConfigureAwait(false);
                await response.Body.WriteAsync("\r\n"u8.ToArray(), aborted).ConfigureAwait(false);
                await response.Body.FlushAsync(aborted).ConfigureAwait(false);
                version = frame.Version;
                lastSent = Stopwatch.GetTimestamp();
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // the viewer went away, or its session ended
        }
    }
}

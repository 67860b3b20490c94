using System.Diagnostics;
using System.Text.Json;
using Inspection.Core;
using Inspection.Worker.Output;
using Inspection.Worker.Observability;
using Inspection.Worker.Pipeline;
using Inspection.Worker.Serving;
using Microsoft.Extensions.Logging;

namespace Inspection.Worker.Control;

/// <summary>
/// Where a PLC's triggers are taken, whatever transport brought them: parsed, matched to the nearest frame of their
/// camera, and given exactly one verdict before their deadline, the inspection's or a missed deadline's. A trigger
/// the worker cannot take (unknown camera, a continuous camera, bad JSON) is answered with an error reply.
/// </summary>
public sealed class TriggerDesk(CameraFeeds feeds, ModelHost model, SinkFanOut sinks, WorkerMetrics metrics, ILogger<TriggerDesk> logger)
{
    /// <summary>Takes a trigger for camera <paramref name="cameraId"/>: {"partId", "time"} in <paramref name="payload"/>.</summary>
    public async Task HandleAsync(string cameraId, ReadOnlyMemory<byte> payload, ReplyAddress? replyTo)
    {
        var feed = feeds.Find(cameraId);
        try
        {
            if (feed is null)
            {
                throw new InspectionInputException($"no camera '{cameraId}' here; cameras: {string.Join(", ", feeds.Select(f => f.Id))}");
            }

            if (!feed.Triggered)
            {
                throw new InspectionInputException($"camera '{feed.Id}' inspects continuously; give it Mode: Triggered to inspect on triggers");
            }

            var trigger = PendingTrigger.Parse(feed.Id, payload.Span, DateTimeOffset.UtcNow, replyTo);
            metrics.Camera(feed.Id).Trigger("received").Inc();
            _ = WatchDeadlineAsync(trigger, feed.Options.TriggerDeadline);
            if (feed.Source.State != SourceState.Streaming)
            {
                await AnswerWithNoticeAsync(trigger, $"camera down: {feed.Source.Status.Reason ?? feed.Source.State.ToString().ToLowerInvariant()}").ConfigureAwait(false);
                return;
            }

            try
            {
                feed.Trigger(trigger);
            }
            catch (InspectionInputException e)
            {
                await AnswerWithNoticeAsync(trigger, e.Message).ConfigureAwait(false);
            }
        }
        catch (InspectionInputException e)
        {
            logger.LogWarning("Trigger for camera {Camera} refused: {Reason}", cameraId, e.Message);
            if (feed is not null)
            {
                metrics.Camera(feed.Id).Trigger("refused").Inc();
            }

            if (replyTo is not null)
            {
                await sinks.PublishAsync(SinkItem.ForReply(replyTo, JsonSerializer.SerializeToUtf8Bytes(new { ok = false, error = e.Message }))).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The verdict to publish for the inspected frame of <paramref name="trigger"/>: the result itself, a
    /// missed-deadline notice when it came too late, or null when the deadline's notice went out already.
    /// </summary>
    public InspectionResult? Answer(InspectionResult result, PendingTrigger trigger)
    {
        var camera = metrics.Camera(trigger.CameraId);
        if (!trigger.TryClaim())
        {
            camera.Trigger("late").Inc();
            return null;
        }

        var waited = Stopwatch.GetElapsedTime(trigger.ReceivedTimestamp);
        var deadline = feeds.Find(trigger.CameraId)!.Options.TriggerDeadline;
        if (waited > deadline)
        {
            camera.Trigger("deadline_missed").Inc();
            return Notices.Unknown(model.Serving, trigger.CameraId, trigger.Time, trigger.PartId, $"deadline missed: no verdict within {deadline.TotalMilliseconds:0} ms (took {waited.TotalMilliseconds:0} ms)");
        }

        camera.Trigger("answered").Inc();
        return result;
    }

    /// <summary>At the deadline, a trigger nobody answered gets its missed-deadline verdict.</summary>
    private async Task WatchDeadlineAsync(PendingTrigger trigger, TimeSpan deadline)
    {
        await Task.Delay(deadline).ConfigureAwait(false);
        if (trigger.TryClaim())
        {
            metrics.Camera(trigger.CameraId).Trigger("deadline_missed").Inc();
            await PublishAsync(trigger, Notices.Unknown(model.Serving, trigger.CameraId, trigger.Time, trigger.PartId, "deadline missed: no frame was inspected in time")).ConfigureAwait(false);
        }
    }

    /// <summary>A trigger that cannot be inspected gets an UNKNOWN at once (unless its deadline answered already).</summary>
    private async Task AnswerWithNoticeAsync(PendingTrigger trigger, string reason)
    {
        if (trigger.TryClaim())
        {
            await PublishAsync(trigger, Notices.Unknown(model.Serving, trigger.CameraId, trigger.Time, trigger.PartId, reason)).ConfigureAwait(false);
        }
    }

    private async Task PublishAsync(PendingTrigger trigger, InspectionResult notice)
    {
        var camera = metrics.Camera(trigger.CameraId);
        if (await sinks.PublishAsync(SinkItem.ForResult(notice, trigger.ReplyTo)).ConfigureAwait(false))
        {
            camera.Verdict(notice.Verdict).Inc();
        }
    }
}

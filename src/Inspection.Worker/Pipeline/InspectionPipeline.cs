using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Inspection.Core;
using Inspection.Vision;
using Inspection.Worker.Configuration;
using Inspection.Worker.Control;
using Inspection.Worker.Evidence;
using Inspection.Worker.Observability;
using Inspection.Worker.Output;
using Inspection.Worker.Rules;
using Inspection.Worker.Serving;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Pipeline;

/// <summary>
/// One direction: camera feeds, the cross-camera batcher (which forms a batch when the detector asks for one), the
/// detector and the rules, then the sinks. A slow stage backs up into the cameras' buffers, which drop frames by each
/// camera's policy. Every frame taken for inspection gets exactly one result; a live camera's frame that is too old
/// by the time a batch forms is dropped and counted instead. On stop: the cameras stop first, then the frames
/// already taken are inspected and handed to the sinks.
/// </summary>
public sealed class InspectionPipeline : BackgroundService
{
    private readonly CameraFeeds _feeds;
    private readonly ModelHost _model;
    private readonly RuleBook _rules;
    private readonly SinkFanOut _sinks;
    private readonly TriggerDesk _triggers;
    private readonly EvidenceStore _evidence;
    private readonly IFrameTap[] _taps;
    private readonly WorkerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly FrameBatcher _batcher;
    private readonly BatchPool _pool;
    private readonly Channel<SourceStatus> _statuses = Channel.CreateUnbounded<SourceStatus>(new UnboundedChannelOptions { SingleReader = true });
    private volatile bool _stopping;

    public InspectionPipeline(IOptions<InspectionOptions> options, CameraFeeds feeds, ModelHost model, RuleBook rules, SinkFanOut sinks, TriggerDesk triggers, EvidenceStore evidence, WorkerMetrics metrics, ILogger<InspectionPipeline> logger, IEnumerable<IFrameTap> taps)
    {
        _taps = [.. taps];
        var batching = options.Value.Batching;
        (_feeds, _model, _rules, _sinks, _triggers, _evidence, _metrics, _logger) = (feeds, model, rules, sinks, triggers, evidence, metrics, logger);
        _pool = new BatchPool(1, batching.MaxBatchSize);
        var inputs = feeds.Select(f => new FrameBatcher.Input(f.Ready, Live: f.Options.Policy == BufferPolicy.DropOldest, Stale: item => DropStale(f, item))).ToList();
        _batcher = new FrameBatcher(inputs, _pool, TimeSpan.FromMilliseconds(batching.MaxWaitMilliseconds), TimeSpan.FromMilliseconds(batching.MaxFrameAgeMilliseconds));
        feeds.OnReady(_batcher.Notify);
        foreach (var feed in feeds)
        {
            feed.Source.StatusChanged += (_, status) => _statuses.Writer.TryWrite(status);
        }

        metrics.BeforeScrape(() =>
        {
            foreach (var feed in feeds)
            {
                var counters = feed.Source.Counters;
                metrics.FramesRead.WithLabels(feed.Id).IncTo(counters.Read);
                metrics.FramesDropped.WithLabels(feed.Id).IncTo(counters.Dropped);
            }
        });
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        foreach (var feed in _feeds)
        {
            _metrics.SetCameraState(feed.Id, SourceState.Connecting);
            _metrics.Camera(feed.Id).Triggered.Set(feed.Triggered ? 1 : 0); // also makes its series before its first frame
            feed.Start();
        }

        var inference = InferAsync();
        var statuses = WatchStatusesAsync();
        // Until shutting down, or the detector stage failed (rethrown below, which stops the host); then drain in
        // order. A detector stage that ended because every camera finished waits for the shutdown.
        var shutdown = Task.Delay(Timeout.Infinite, stoppingToken);
        if (await Task.WhenAny(shutdown, inference).ConfigureAwait(false) == inference && !inference.IsFaulted)
        {
            await shutdown.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stopping = true;
        var started = Stopwatch.StartNew();
        var stopped = Task.WhenAll(_feeds.Select(f => f.StopAsync()));
        if (await Task.WhenAny(stopped, inference).ConfigureAwait(false) == inference && inference.IsFaulted)
        {
            // Nothing batches any more: the frames the cameras still hand on are let go, so that they can stop.
            await Task.WhenAll(_feeds.Select(DiscardAsync)).ConfigureAwait(false);
        }

        await stopped.ConfigureAwait(false);
        await inference.ConfigureAwait(false);
        _statuses.Writer.TryComplete();
        await statuses.ConfigureAwait(false);
        foreach (var feed in _feeds)
        {
            var counters = feed.Source.Counters;
            _logger.LogInformation(
                "Camera {Camera}: {Taken} frames taken for inspection, {Published} results published, {Read} read, {Dropped} dropped at the camera, {Stale} dropped as too old.",
                feed.Id, feed.Taken, _metrics.Camera(feed.Id).Published, counters.Read, counters.Dropped, feed.Stale);
            await feed.DisposeAsync().ConfigureAwait(false);
        }

        _logger.LogInformation("Pipeline drained in {Milliseconds:0} ms.", started.Elapsed.TotalMilliseconds);
    }

    /// <summary>
    /// Forms a batch whenever one of the detector's lanes is free and gives it to that lane. The detector runs as
    /// many batches at once as it was opened for (<see cref="Inspection.Inference.DetectorOptions.ConcurrentBatches"/>).
    /// A lane is free again as soon as it has inferred: its batch's results are judged and handed on off the lane, in
    /// the order the batches were formed, so waiting for that turn never idles the detector.
    /// </summary>
    private async Task InferAsync()
    {
        var concurrent = _model.Serving.Detector.ConcurrentBatches;
        // Room for every lane's batch and, behind each, one whose results wait for their turn.
        var inFlight = 2 * concurrent;
        using var turns = new PublishTurns(inFlight);
        using var room = new SemaphoreSlim(inFlight, inFlight);
        var free = Channel.CreateBounded<DetectorLane>(concurrent);
        Exception? publishFailed = null;
        void Failed(Exception e)
        {
            _logger.LogCritical(e, "The detector stage failed; the worker stops.");
            free.Writer.TryComplete();
        }

        void PublishFailed(Exception e)
        {
            Interlocked.CompareExchange(ref publishFailed, e, null);
            Failed(e);
        }

        var lanes = Enumerable.Range(0, concurrent)
            .Select(i => new DetectorLane(i, async (batch, ticket) =>
            {
                Detected detected;
                try
                {
                    detected = await DetectAsync(batch).ConfigureAwait(false);
                }
                catch
                {
                    _ = PublishInTurnAsync(batch, ticket, null, turns, room, PublishFailed); // the batches after it still get their turn
                    throw;
                }

                _ = PublishInTurnAsync(batch, ticket, detected, turns, room, PublishFailed);
            }, lane => free.Writer.TryWrite(lane), Failed))
            .ToList();
        try
        {
            lanes.ForEach(lane => free.Writer.TryWrite(lane));
            long ticket = 0;
            // The batch is formed when a lane is free: its frames are the newest the cameras kept meanwhile.
            while (await NextFreeAsync(free.Reader).ConfigureAwait(false) is { } lane)
            {
                await room.WaitAsync().ConfigureAwait(false);
                if (await _batcher.NextAsync().ConfigureAwait(false) is not { } batch)
                {
                    room.Release();
                    break;
                }

                lane.Give(batch, ticket++);
            }
        }
        finally
        {
            lanes.ForEach(lane => lane.Finish());
        }

        // Every result already inferred is handed on, even when a lane failed.
        var ended = Task.WhenAll(lanes.Select(lane => lane.Ended));
        await ended.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        for (var i = 0; i < inFlight; i++)
        {
            await room.WaitAsync().ConfigureAwait(false);
        }

        await ended.ConfigureAwait(false);
        if (publishFailed is not null)
        {
            ExceptionDispatchInfo.Throw(publishFailed);
        }
    }

    private static async Task DiscardAsync(CameraFeed feed)
    {
        await foreach (var item in feed.Ready.ReadAllAsync().ConfigureAwait(false))
        {
            item.Frame.Dispose();
        }
    }

    /// <summary>A lane that has finished its batch; null once a lane failed.</summary>
    private static async ValueTask<DetectorLane?> NextFreeAsync(ChannelReader<DetectorLane> free) =>
        await free.WaitToReadAsync().ConfigureAwait(false) && free.TryRead(out var lane) ? lane : null;

    /// <summary>
    /// In its turn among the batches in flight, judges and hands on each frame's result (nothing when detection
    /// failed), then makes room for another batch.
    /// </summary>
    private async Task PublishInTurnAsync(Batch batch, long ticket, Detected? detected, PublishTurns turns, SemaphoreSlim room, Action<Exception> failed)
    {
        await turns.WaitAsync(ticket).ConfigureAwait(false);
        try
        {
            if (detected is { } inferred)
            {
                await JudgeAndPublishAsync(batch, inferred).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            failed(e);
        }
        finally
        {
            turns.Pass(ticket);
            _pool.Return(batch);
            room.Release();
        }
    }

    private readonly record struct Detected(ServingModel Serving, RuleBook.Snapshot Rules, TimeSpan Inference);

    private async Task<Detected> DetectAsync(Batch batch)
    {
        // The model is taken per batch: a swap lands between batches, and each result names its model.
        var serving = await _model.AcquireAsync().ConfigureAwait(false);
        TimeSpan inference;
        var rules = _rules.Current;
        var count = batch.Count;
        try
        {
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < count; i++)
            {
                _metrics.Camera(batch.Items[i].Frame.CameraId).FrameAge.Observe(Stopwatch.GetElapsedTime(batch.Items[i].Frame.CaptureTimestamp, now).TotalSeconds);
            }

            serving.Detector.Detect(batch.Images.AsSpan(0, count), batch.Detections.AsSpan(0, count), rules.Thresholds);
            inference = Stopwatch.GetElapsedTime(now);
            if (_model.Shadow is { } shadow && shadow.Samples())
            {
                shadow.Compare(batch, serving.Info.Names, rules, rules.Thresholds);
            }
        }
        finally
        {
            _model.Release();
        }

        return new Detected(serving, rules, inference);
    }

    private async Task JudgeAndPublishAsync(Batch batch, Detected detected)
    {
        var (serving, rules, inference) = detected;
        var count = batch.Count;
        _metrics.Inference.Observe(inference.TotalSeconds);
        _metrics.BatchSize.Observe(count);
        _metrics.BatchCameras.Observe(batch.Cameras());
        for (var i = 0; i < count; i++)
        {
            var (frame, trigger) = batch.Items[i];
            var kept = new List<Detection>();
            var outcome = rules.Cameras[frame.CameraId].Evaluate(frame.Integrity, frame.Width, frame.Height, batch.Detections[i], kept);
            var result = new InspectionResult
            {
                CameraId = frame.CameraId,
                Sequence = frame.Sequence,
                CaptureTime = frame.CaptureTime,
                ModelName = serving.Name,
                ModelVersion = serving.Version,
                Verdict = outcome.Verdict,
                Reason = outcome.Reason,
                Detections = kept,
                ClassNames = serving.Info.Names,
                InferenceLatency = inference,
                Width = frame.Width,
                Height = frame.Height,
                Integrity = frame.Integrity,
                PartId = trigger?.PartId,
            };
            if (_evidence.KindToKeep(outcome.Verdict, outcome.Uncertain) is { } kind)
            {
                // Named before publishing, so the result can say where its picture is; a dropped offer names nothing.
                var named = result with { Evidence = new EvidenceRef(EvidenceStore.NameOf(result), kind) };
                if (_evidence.Offer(frame.Image, named, kind))
                {
                    result = named;
                }
            }

            if (_taps.Length > 0)
            {
                Tap(frame, result);
            }

            var captured = frame.CaptureTimestamp;
            frame.Dispose();
            var camera = _metrics.Camera(result.CameraId);
            camera.Inspected.Inc();
            camera.CountFlags(result.Integrity);
            var published = trigger is null ? result : _triggers.Answer(result, trigger);
            if (published is not null)
            {
                await PublishAsync(published, trigger?.ReplyTo, captured).ConfigureAwait(false);
                camera.CountPublished();
            }
        }
    }

    /// <summary>A live camera's frame too old to judge what is in front of the camera now: counted, never inspected.</summary>
    private void DropStale(CameraFeed feed, WorkItem item)
    {
        feed.CountStale();
        _metrics.Camera(feed.Id).Stale.Inc();
        item.Frame.Dispose();
    }

    /// <summary>Hands the frame's pixels to the taps that want them, before they go back to the pool.</summary>
    private void Tap(Frame frame, InspectionResult result)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var tap in _taps)
        {
            if (tap.Wants(result.CameraId, now))
            {
                tap.Take(frame.Image, result);
            }
        }
    }

    private async Task PublishAsync(InspectionResult result, ReplyAddress? replyTo, long captured)
    {
        var start = Stopwatch.GetTimestamp();
        await _sinks.PublishAsync(SinkItem.ForResult(result, replyTo)).ConfigureAwait(false);
        _metrics.Publish.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
        var camera = _metrics.Camera(result.CameraId);
        camera.Verdict(result.Verdict).Inc();
        if (captured != 0)
        {
            camera.CaptureToPublish.Observe(Stopwatch.GetElapsedTime(captured).TotalSeconds);
        }

        foreach (var detection in result.Detections)
        {
            camera.Defect(result.ClassName(detection.ClassId)).Inc();
        }
    }

    /// <summary>Hands on camera states, and an UNKNOWN result when a continuous camera stops streaming.</summary>
    private async Task WatchStatusesAsync()
    {
        var last = new Dictionary<string, SourceState>(StringComparer.Ordinal);
        await foreach (var status in _statuses.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            _metrics.SetCameraState(status.CameraId, status.State);
            await _sinks.PublishAsync(SinkItem.ForStatus(status)).ConfigureAwait(false);
            var feed = _feeds.Find(status.CameraId)!;
            var was = last.GetValueOrDefault(status.CameraId, SourceState.Connecting);
            last[status.CameraId] = status.State;
            if (!_stopping && !feed.Triggered && was == SourceState.Streaming && status.State is SourceState.Stalled or SourceState.Reconnecting)
            {
                await PublishAsync(Notices.Unknown(_model.Serving, status.CameraId, DateTimeOffset.UtcNow, null, $"camera down: {status.Reason}"), null, 0).ConfigureAwait(false);
            }
        }
    }
}

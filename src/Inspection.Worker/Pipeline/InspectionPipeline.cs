using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Inspection.Core;
using Inspection.Messaging;
using Inspection.Vision;
using Inspection.Worker.Configuration;
using Inspection.Worker.Evidence;
using Inspection.Worker.Observability;
using Inspection.Worker.Rules;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Inspection.Worker.Pipeline;

/// <summary>
/// Cameras, then the cross-camera batcher, then the detector and the rules, then MQTT, joined by bounded
/// channels: a slow stage backs up into the cameras' buffers, which drop frames by each camera's policy. Every
/// frame a camera delivers gets exactly one result. Triggered cameras are inspected only when a PLC asks.
/// On stop: the cameras stop first, the frames already taken are inspected and published, then MQTT flushes.
/// </summary>
public sealed class InspectionPipeline : BackgroundService
{
    private const int ResultQueueCapacity = 256;

    private readonly InspectionOptions _options;
    private readonly ModelHost _model;
    private readonly RuleBook _rules;
    private readonly MqttPublisher _publisher;
    private readonly EvidenceStore _evidence;
    private readonly WorkerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly FrameBatcher _batcher;
    private readonly BatchPool _pool;
    private readonly Channel<Batch> _batches;
    private readonly Channel<PublishItem> _results = Channel.CreateBounded<PublishItem>(new BoundedChannelOptions(ResultQueueCapacity) { SingleReader = true });
    private readonly Channel<SourceStatus> _statuses = Channel.CreateUnbounded<SourceStatus>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, CameraMetrics> _cameraMetrics = new(StringComparer.Ordinal);
    private volatile bool _stopping;

    public InspectionPipeline(IOptions<InspectionOptions> options, ModelHost model, RuleBook rules, MessagingHost messaging, EvidenceStore evidence, WorkerMetrics metrics, ILoggerFactory loggers)
    {
        _options = options.Value;
        (_model, _rules, _publisher, _evidence, _metrics) = (model, rules, messaging.Publisher, evidence, metrics);
        _logger = loggers.CreateLogger<InspectionPipeline>();
        var cameraLogger = loggers.CreateLogger<CameraSource>();
        var share = _options.Batching.MaxBatchSize / _options.Cameras.Count; // one camera alone can fill a batch; several share it
        Feeds = [.. _options.Cameras.Select(c => new CameraFeed(c, share, () => _batcher!.Notify(), cameraLogger))];
        _pool = new BatchPool(_options.Batching.QueueCapacity + 2, _options.Batching.MaxBatchSize);
        _batcher = new FrameBatcher([.. Feeds.Select(f => f.Ready)], _pool, TimeSpan.FromMilliseconds(_options.Batching.MaxWaitMilliseconds));
        _batches = Channel.CreateBounded<Batch>(new BoundedChannelOptions(_options.Batching.QueueCapacity) { SingleReader = true, SingleWriter = true });
        foreach (var feed in Feeds)
        {
            _cameraMetrics[feed.Id] = new CameraMetrics(metrics, feed.Id);
            feed.Source.StatusChanged += (_, status) => _statuses.Writer.TryWrite(status);
        }

        metrics.BeforeScrape(() =>
        {
            foreach (var feed in Feeds)
            {
                var counters = feed.Source.Counters;
                metrics.FramesRead.WithLabels(feed.Id).IncTo(counters.Read);
                metrics.FramesDropped.WithLabels(feed.Id).IncTo(counters.Dropped);
            }
        });

        // Commands and triggers are subscribed before the publisher connects (it starts before this service runs).
        _publisher.Commands.Register("set-thresholds", SetThresholdsAsync);
        _publisher.Commands.Register("get-thresholds", (request, _) => Task.FromResult<JsonNode?>(Thresholds(request.Camera)));
        _publisher.Subscribe(_publisher.Topics.AllTriggers, OnTriggerAsync);
    }

    public IReadOnlyList<CameraFeed> Feeds { get; }

    /// <summary>Results published per camera for frames (not counting camera-down and trigger-only notices).</summary>
    public long Published(string camera) => _cameraMetrics[camera].Published;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        foreach (var feed in Feeds)
        {
            _metrics.SetCameraState(feed.Id, SourceState.Connecting);
            feed.Start();
        }

        var batching = _batcher.RunAsync(_batches.Writer);
        var inference = Task.Factory.StartNew(InferAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        var statuses = WatchStatusesAsync();
        var publishing = PublishAsync();
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Shutting down: drain in order below.
        }

        _stopping = true;
        var started = Stopwatch.StartNew();
        await Task.WhenAll(Feeds.Select(f => f.StopAsync())).ConfigureAwait(false);
        await batching.ConfigureAwait(false);
        await inference.ConfigureAwait(false);
        _statuses.Writer.TryComplete();
        await statuses.ConfigureAwait(false);
        _results.Writer.TryComplete();
        await publishing.ConfigureAwait(false);
        foreach (var feed in Feeds)
        {
            var counters = feed.Source.Counters;
            _logger.LogInformation(
                "Camera {Camera}: {Taken} frames taken for inspection, {Published} results published, {Read} read, {Dropped} dropped at the camera.",
                feed.Id, feed.Taken, _cameraMetrics[feed.Id].Published, counters.Read, counters.Dropped);
            await feed.DisposeAsync().ConfigureAwait(false);
        }

        _logger.LogInformation("Pipeline drained in {Milliseconds:0} ms.", started.Elapsed.TotalMilliseconds);
    }

    private async Task InferAsync()
    {
        try
        {
            await foreach (var batch in _batches.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                // The model is taken per batch: a swap lands between two batches, and each result names its model.
                var serving = await _model.AcquireAsync().ConfigureAwait(false);
                TimeSpan inference;
                var rules = _rules.Current;
                var count = batch.Count;
                try
                {
                    var now = Stopwatch.GetTimestamp();
                    for (var i = 0; i < count; i++)
                    {
                        _cameraMetrics[batch.Items[i].Frame.CameraId].FrameAge.Observe(Stopwatch.GetElapsedTime(batch.Items[i].Frame.CaptureTimestamp, now).TotalSeconds);
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

                var model = serving.Info;
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
                        ClassNames = model.Names,
                        InferenceLatency = inference,
                        Width = frame.Width,
                        Height = frame.Height,
                        Integrity = frame.Integrity,
                        PartId = trigger?.PartId,
                    };
                    if (_evidence.KindToKeep(outcome.Verdict, outcome.Uncertain) is { } kind)
                    {
                        _evidence.Offer(frame.Image, result, kind);
                    }

                    var captured = frame.CaptureTimestamp;
                    frame.Dispose();
                    _cameraMetrics[result.CameraId].Inspected.Inc();
                    await _results.Writer.WriteAsync(new PublishItem(result, trigger, captured)).ConfigureAwait(false);
                }

                _pool.Return(batch);
            }
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "The detector stage failed; the worker stops.");
            throw;
        }
    }

    private async Task PublishAsync()
    {
        await foreach (var (result, trigger, captured) in _results.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            var published = result;
            var camera = _cameraMetrics[result.CameraId];
            if (trigger is not null)
            {
                if (!trigger.TryClaim())
                {
                    camera.Trigger("late").Inc(); // its deadline was published already
                    continue;
                }

                var waited = Stopwatch.GetElapsedTime(trigger.ReceivedTimestamp);
                var deadline = _options.Cameras.First(c => c.Id == trigger.CameraId).TriggerDeadline;
                if (waited > deadline)
                {
                    published = TriggerNotice(trigger, $"deadline missed: no verdict within {deadline.TotalMilliseconds:0} ms (took {waited.TotalMilliseconds:0} ms)");
                    camera.Trigger("deadline_missed").Inc();
                }
                else if (result.Sequence > 0)
                {
                    camera.Trigger("answered").Inc();
                }
            }

            var start = Stopwatch.GetTimestamp();
            await _publisher.PublishResultAsync(published, CancellationToken.None, trigger?.CorrelationData ?? default, trigger?.ResponseTopic).ConfigureAwait(false);
            _metrics.Publish.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
            camera.Verdict(published.Verdict).Inc();
            if (captured != 0)
            {
                camera.CaptureToPublish.Observe(Stopwatch.GetElapsedTime(captured).TotalSeconds);
            }

            if (result.Sequence > 0)
            {
                camera.CountPublished();
            }

            foreach (var detection in published.Detections)
            {
                camera.Defect(published.ClassName(detection.ClassId)).Inc();
            }
        }
    }

    /// <summary>Publishes camera states, and an UNKNOWN result when a continuous camera stops streaming.</summary>
    private async Task WatchStatusesAsync()
    {
        var last = new Dictionary<string, SourceState>(StringComparer.Ordinal);
        await foreach (var status in _statuses.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            _metrics.SetCameraState(status.CameraId, status.State);
            await _publisher.PublishCameraStatusAsync(status).ConfigureAwait(false);
            var feed = Feeds.First(f => f.Id == status.CameraId);
            var was = last.GetValueOrDefault(status.CameraId, SourceState.Connecting);
            last[status.CameraId] = status.State;
            if (!_stopping && !feed.Triggered && was == SourceState.Streaming && status.State is SourceState.Stalled or SourceState.Reconnecting)
            {
                await _results.Writer.WriteAsync(new PublishItem(Notice(status.CameraId, DateTimeOffset.UtcNow, null, $"camera down: {status.Reason}"), null, 0)).ConfigureAwait(false);
            }
        }
    }

    private async Task OnTriggerAsync(InboundMessage message)
    {
        var cameraId = _publisher.Topics.TriggerCamera(message.Topic);
        var feed = Feeds.FirstOrDefault(f => f.Id == cameraId);
        try
        {
            if (feed is null)
            {
                throw new InspectionInputException($"no camera '{cameraId}' here; cameras: {string.Join(", ", Feeds.Select(f => f.Id))}");
            }

            if (!feed.Triggered)
            {
                throw new InspectionInputException($"camera '{feed.Id}' inspects continuously; give it Mode: Triggered to inspect on triggers");
            }

            var trigger = PendingTrigger.Parse(feed.Id, message.Payload.Span, DateTimeOffset.UtcNow, message.CorrelationData, message.ResponseTopic);
            _cameraMetrics[feed.Id].Trigger("received").Inc();
            _ = WatchDeadlineAsync(trigger, feed.Options.TriggerDeadline);
            if (feed.Source.State != SourceState.Streaming)
            {
                await _results.Writer.WriteAsync(new PublishItem(TriggerNotice(trigger, $"camera down: {feed.Source.Status.Reason ?? feed.Source.State.ToString().ToLowerInvariant()}"), trigger, 0)).ConfigureAwait(false);
                return;
            }

            try
            {
                feed.Trigger(trigger);
            }
            catch (InspectionInputException e)
            {
                await _results.Writer.WriteAsync(new PublishItem(TriggerNotice(trigger, e.Message), trigger, 0)).ConfigureAwait(false);
            }
        }
        catch (InspectionInputException e)
        {
            _logger.LogWarning("Trigger on {Topic} refused: {Reason}", message.Topic, e.Message);
            if (feed is not null)
            {
                _cameraMetrics[feed.Id].Trigger("refused").Inc();
            }

            await _publisher.EnqueueAsync(new OutboundMessage
            {
                Topic = message.ResponseTopic is { Length: > 0 } reply ? reply : message.Topic + "/reply",
                Payload = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { ok = false, error = e.Message }),
                CorrelationData = message.CorrelationData,
            }).ConfigureAwait(false);
        }
    }

    /// <summary>At the deadline, a trigger nobody answered gets its missed-deadline verdict.</summary>
    private async Task WatchDeadlineAsync(PendingTrigger trigger, TimeSpan deadline)
    {
        await Task.Delay(deadline).ConfigureAwait(false);
        if (!trigger.IsClaimed)
        {
            await _results.Writer.WriteAsync(new PublishItem(TriggerNotice(trigger, "deadline missed: no frame was inspected in time"), trigger, 0)).ConfigureAwait(false);
        }
    }

    private InspectionResult TriggerNotice(PendingTrigger trigger, string reason) => Notice(trigger.CameraId, trigger.Time, trigger.PartId, reason);

    /// <summary>An UNKNOWN verdict about no frame (sequence 0): a camera that went down, a trigger that could not be answered.</summary>
    private InspectionResult Notice(string camera, DateTimeOffset time, string? partId, string reason) => new()
    {
        CameraId = camera,
        Sequence = 0,
        CaptureTime = time,
        ModelName = _model.Serving.Name,
        ModelVersion = _model.Serving.Version,
        Verdict = Verdict.Unknown,
        Reason = reason,
        Detections = [],
        ClassNames = _model.Serving.Info.Names,
        PartId = partId,
    };

    private Task<JsonNode?> SetThresholdsAsync(CommandRequest request, CancellationToken cancel)
    {
        if (!request.Arguments.TryGetPropertyValue("confidence", out var value) || value is not JsonValue number || !number.TryGetValue<double>(out var confidence))
        {
            throw new InspectionInputException("give \"confidence\" (a number 0..1) and optionally \"class\"");
        }

        var className = request.Arguments.TryGetPropertyValue("class", out var c) && c is JsonValue text && text.TryGetValue<string>(out var name) ? name : null;
        _rules.SetConfidence(request.Camera, className, confidence);
        return Task.FromResult<JsonNode?>(Thresholds(request.Camera));
    }

    /// <summary>{camera: {class: confidence}} for one camera or all.</summary>
    private JsonObject Thresholds(string? camera)
    {
        var result = new JsonObject();
        foreach (var (id, rules) in _rules.Current.Cameras.Where(c => camera is null || c.Key == camera))
        {
            var classes = new JsonObject();
            for (var i = 0; i < rules.ClassNames.Count; i++)
            {
                classes[rules.ClassNames[i]] = Math.Round(rules.Confidence[i], 4);
            }

            result[id] = classes;
        }

        return result;
    }

    private readonly record struct PublishItem(InspectionResult Result, PendingTrigger? Trigger, long CaptureTimestamp);

    /// <summary>One camera's metric series, looked up once so the per-frame path does not build label arrays.</summary>
    private sealed class CameraMetrics(WorkerMetrics metrics, string camera)
    {
        private readonly Counter.Child[] _verdicts = [.. Enum.GetValues<Verdict>().Select(v => metrics.Verdicts.WithLabels(camera, ResultJson.VerdictText(v)))];
        private long _published;

        public Counter.Child Inspected { get; } = metrics.FramesInspected.WithLabels(camera);

        public Histogram.Child FrameAge { get; } = metrics.FrameAge.WithLabels(camera);

        public Histogram.Child CaptureToPublish { get; } = metrics.CaptureToPublish.WithLabels(camera);

        public long Published => Interlocked.Read(ref _published);

        public void CountPublished() => Interlocked.Increment(ref _published);

        public Counter.Child Verdict(Verdict verdict) => _verdicts[(int)verdict];

        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Counter.Child> _defects = new(StringComparer.Ordinal);

        public Counter.Child Defect(string className) => _defects.GetOrAdd(className, name => metrics.Defects.WithLabels(camera, name));

        public Counter.Child Trigger(string outcome) => metrics.Triggers.WithLabels(camera, outcome);
    }
}

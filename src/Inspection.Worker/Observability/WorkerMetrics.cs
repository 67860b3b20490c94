using Inspection.Core;
using Prometheus;

namespace Inspection.Worker.Observability;

/// <summary>
/// The worker's Prometheus metrics, in a registry of its own (what /metrics serves). Latencies are histograms
/// in seconds; per-camera series carry a "camera" label. Counters owned by other parts (camera sources, the MQTT
/// queue) are copied in just before each scrape. Beside them: the process and .NET runtime series, which a custom
/// registry does not get by itself: prometheus-net's own collectors (GC collections, memory, CPU, threads, handles,
/// start time) and the runtime's figures they lack (GC heap and pauses, thread pool, lock contention, exceptions),
/// read at each scrape. prometheus-net 8.2.1's MeterAdapter exported none of the runtime's 'System.Runtime' meter
/// here, and would publish its counters as gauges.
/// </summary>
public sealed class WorkerMetrics : IDisposable
{
    private static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.001, 2, 14); // 1 ms .. 8 s
    private readonly List<Action> _beforeScrape = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CameraMetrics> _cameras = new(StringComparer.Ordinal);
    private long _exceptions;

    public WorkerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        FramesRead = factory.CreateCounter("inspection_frames_read_total", "Frames read from the camera.", ["camera"]);
        FramesDropped = factory.CreateCounter("inspection_frames_dropped_total", "Frames dropped at the camera (buffer full, no free buffer, rate cap).", ["camera"]);
        FramesInspected = factory.CreateCounter("inspection_frames_inspected_total", "Frames that went through the detector.", ["camera"]);
        FramesStale = factory.CreateCounter("inspection_frames_stale_total", "Frames of a live camera dropped before inference because they were older than Batching:MaxFrameAgeMilliseconds when their batch formed.", ["camera"]);
        FramesFlagged = factory.CreateCounter("inspection_frames_flagged_total", "Inspected frames the integrity checks flagged (frozen, black, blank, blurred); such a frame gets no OK verdict.", ["camera", "flag"]);
        CameraTriggered = factory.CreateGauge("inspection_camera_triggered", "1 when the camera is inspected only on triggers, 0 when continuously.", ["camera"]);
        CameraState = factory.CreateGauge("inspection_camera_state", "1 for the state the camera is in, 0 for the others.", ["camera", "state"]);
        FrameAge = factory.CreateHistogram("inspection_frame_age_seconds", "Time from capture to the start of inference.", ["camera"], new HistogramConfiguration { Buckets = LatencyBuckets });
        Inference = factory.CreateHistogram("inspection_inference_seconds", "Detector time per batch (preprocessing, model, NMS).", new HistogramConfiguration { Buckets = LatencyBuckets });
        Publish = factory.CreateHistogram("inspection_publish_seconds", "Time to hand a result to every sink's buffer.", new HistogramConfiguration { Buckets = LatencyBuckets });
        CaptureToPublish = factory.CreateHistogram("inspection_capture_to_publish_seconds", "Time from capture to the result being handed to the sinks.", ["camera"], new HistogramConfiguration { Buckets = LatencyBuckets });
        SinkQueueDepth = factory.CreateGauge("inspection_sink_queue_depth", "Items waiting in a sink's buffer.", ["sink"]);
        SinkItems = factory.CreateCounter("inspection_sink_items_total", "Items by sink and outcome: written, dropped (its buffer was full), failed (the sink threw).", ["sink", "outcome"]);
        SinkWrite = factory.CreateHistogram("inspection_sink_write_seconds", "Time a sink took to take one item.", ["sink"], new HistogramConfiguration { Buckets = LatencyBuckets });
        BatchSize = factory.CreateHistogram("inspection_batch_size", "Frames per detector call.", new HistogramConfiguration { Buckets = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64] });
        BatchCameras = factory.CreateHistogram("inspection_batch_cameras", "Different cameras per detector call.", new HistogramConfiguration { Buckets = [1, 2, 3, 4, 8, 16] });
        Verdicts = factory.CreateCounter("inspection_verdicts_total", "Verdicts published.", ["camera", "verdict"]);
        Defects = factory.CreateCounter("inspection_defects_total", "Detections that counted, by class.", ["camera", "class"]);
        MqttQueueDepth = factory.CreateGauge("inspection_mqtt_queue_depth", "Messages in the durable MQTT queue, not yet acknowledged by the broker.");
        MqttConnected = factory.CreateGauge("inspection_mqtt_connected", "1 while connected to the broker.");
        MqttQueueBytes = factory.CreateGauge("inspection_mqtt_queue_bytes", "Bytes of the messages in the durable MQTT queue.");
        MqttQueueLimitBytes = factory.CreateGauge("inspection_mqtt_queue_limit_bytes", "The durable MQTT queue's size limit (Mqtt:Queue:MaxBytes); past it the full-queue policy applies.");
        MqttQueueLimitMessages = factory.CreateGauge("inspection_mqtt_queue_limit_messages", "The durable MQTT queue's message limit (Mqtt:Queue:MaxMessages).");
        MqttFailures = factory.CreateCounter("inspection_mqtt_failures_total", "Messages the broker refused or the full queue dropped.", ["kind"]);
        ModelInfo = factory.CreateGauge("inspection_model_info", "The model serving, as labels; the value is 1.", ["name", "version", "provider"]);
        Commands = factory.CreateCounter("inspection_commands_total", "Commands (and refused triggers and connections) by outcome: accepted, refused, failed, timed_out.", ["command", "outcome"]);
        Triggers = factory.CreateCounter("inspection_triggers_total", "Triggers received, by outcome.", ["camera", "outcome"]);
        Evidence = factory.CreateCounter("inspection_evidence_total", "Evidence items, by outcome.", ["kind", "outcome"]);
        EvidenceBytes = factory.CreateGauge("inspection_evidence_bytes", "Bytes of evidence kept; past the quota the oldest items are deleted.");
        EvidenceQuotaBytes = factory.CreateGauge("inspection_evidence_quota_bytes", "The evidence folder's quota (Evidence:MaxMegabytes).");
        VolumeFreeBytes = factory.CreateGauge("inspection_volume_free_bytes", "Free bytes on the file system holding a data folder: evidence or mqtt_queue (a quota cannot help when the disk fills first).", ["folder"]);
        ModelSwaps = factory.CreateCounter("inspection_model_swaps_total", "Model changes by outcome: swapped, rolled_back, refused.", ["outcome"]);
        ModelChecks = factory.CreateHistogram("inspection_model_check_seconds", "Time of each check a candidate model passes before it may serve: signature (hashing its files and verifying), process (the check in a child process), load (loading and checking it in the worker).", ["check"], new HistogramConfiguration { Buckets = LatencyBuckets });
        ModelWarmUp = factory.CreateGauge("inspection_model_warmup_seconds", "Time of the warm-up run at each batch size the batcher can form, for the model loaded last: it serves only after all of them ran.", ["batch"]);
        Heartbeats = factory.CreateCounter("inspection_heartbeats_total", "Golden-set heartbeats by outcome.", ["outcome"]);
        HeartbeatOk = factory.CreateGauge("inspection_heartbeat_ok", "1 when the last golden-set heartbeat passed, 0 when it failed.");
        ShadowFrames = factory.CreateCounter("inspection_shadow_frames_total", "Frames the shadow candidate inspected.", ["candidate"]);
        ShadowVerdictAgreement = factory.CreateGauge("inspection_shadow_verdict_agreement", "Share of shadow frames where the candidate's verdict equals the serving model's.", ["candidate"]);
        ShadowDetectionAgreement = factory.CreateGauge("inspection_shadow_detection_agreement", "Matched detections (same class, IoU >= 0.5) over all detections of either model, on shadow frames.", ["candidate"]);

        // Outcomes that alerts watch with increase() exist from the start, so that the first one counts too.
        ModelSwaps.WithLabels("refused");
        foreach (var kind in new[] { "ng", "uncertain" })
        {
            Evidence.WithLabels(kind, "failed");
        }

        DotNetStats.Register(Registry);
        AddRuntimeSeries(factory);
        Registry.AddBeforeCollectCallback(() =>
        {
            lock (_beforeScrape)
            {
                _beforeScrape.ForEach(update => update());
            }
        });
    }

    public CollectorRegistry Registry { get; }

    public Counter FramesRead { get; }
    public Counter FramesDropped { get; }
    public Counter FramesInspected { get; }
    public Counter FramesStale { get; }
    public Counter FramesFlagged { get; }
    public Gauge CameraTriggered { get; }
    public Gauge CameraState { get; }
    public Histogram FrameAge { get; }
    public Histogram Inference { get; }
    public Histogram Publish { get; }
    public Histogram CaptureToPublish { get; }
    public Gauge SinkQueueDepth { get; }
    public Counter SinkItems { get; }
    public Histogram SinkWrite { get; }
    public Histogram BatchSize { get; }
    public Histogram BatchCameras { get; }
    public Counter Verdicts { get; }
    public Counter Defects { get; }
    public Gauge MqttQueueDepth { get; }
    public Gauge MqttConnected { get; }
    public Gauge MqttQueueBytes { get; }
    public Gauge MqttQueueLimitBytes { get; }
    public Gauge MqttQueueLimitMessages { get; }
    public Counter MqttFailures { get; }
    public Gauge ModelInfo { get; }
    public Gauge ModelWarmUp { get; }
    public Counter Triggers { get; }
    public Counter Commands { get; }
    public Counter Evidence { get; }
    public Gauge EvidenceBytes { get; }
    public Gauge EvidenceQuotaBytes { get; }
    public Gauge VolumeFreeBytes { get; }
    public Counter ModelSwaps { get; }
    public Histogram ModelChecks { get; }
    public Counter Heartbeats { get; }
    public Gauge HeartbeatOk { get; }
    public Counter ShadowFrames { get; }
    public Gauge ShadowVerdictAgreement { get; }
    public Gauge ShadowDetectionAgreement { get; }

    /// <summary>The camera's series, made once per camera.</summary>
    public CameraMetrics Camera(string camera) => _cameras.GetOrAdd(camera, id => new CameraMetrics(this, id));

    /// <summary>Runs <paramref name="update"/> before every scrape, to copy in counters kept elsewhere.</summary>
    public void BeforeScrape(Action update)
    {
        lock (_beforeScrape)
        {
            _beforeScrape.Add(update);
        }
    }

    /// <summary>Free bytes on the file system of <paramref name="path"/> (a statfs call: cheap enough for every scrape).</summary>
    public void SetVolumeFree(string folder, string path)
    {
        try
        {
            VolumeFreeBytes.WithLabels(folder).Set(new DriveInfo(path).AvailableFreeSpace);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            VolumeFreeBytes.WithLabels(folder).Set(double.NaN); // not there yet, or unreadable: no number is better than a wrong one
        }
    }

    public void Dispose() => AppDomain.CurrentDomain.FirstChanceException -= CountException;

    private void CountException(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e) => Interlocked.Increment(ref _exceptions);

    private void AddRuntimeSeries(IMetricFactory factory)
    {
        var heap = factory.CreateGauge("dotnet_gc_heap_size_bytes", "GC heap size after the last collection.");
        var committed = factory.CreateGauge("dotnet_gc_committed_bytes", "Memory the GC has committed.");
        var allocated = factory.CreateCounter("dotnet_gc_allocated_bytes_total", "Bytes allocated on the GC heap.");
        var paused = factory.CreateCounter("dotnet_gc_pause_seconds_total", "Time the GC paused the process.");
        var threads = factory.CreateGauge("dotnet_threadpool_threads", "Thread pool threads.");
        var queued = factory.CreateGauge("dotnet_threadpool_queue_length", "Work items waiting for a thread pool thread.");
        var contentions = factory.CreateCounter("dotnet_lock_contentions_total", "Times a thread waited for a lock held by another.");
        var exceptions = factory.CreateCounter("dotnet_exceptions_total", "Exceptions thrown, caught or not.");
        AppDomain.CurrentDomain.FirstChanceException += CountException;
        BeforeScrape(() =>
        {
            var memory = GC.GetGCMemoryInfo();
            heap.Set(memory.HeapSizeBytes);
            committed.Set(memory.TotalCommittedBytes);
            allocated.IncTo(GC.GetTotalAllocatedBytes());
            paused.IncTo(GC.GetTotalPauseDuration().TotalSeconds);
            threads.Set(ThreadPool.ThreadCount);
            queued.Set(ThreadPool.PendingWorkItemCount);
            contentions.IncTo(Monitor.LockContentionCount);
            exceptions.IncTo(Interlocked.Read(ref _exceptions));
        });
    }

    public void SetCameraState(string camera, SourceState state)
    {
        foreach (var value in Enum.GetValues<SourceState>())
        {
            CameraState.WithLabels(camera, value.ToString().ToLowerInvariant()).Set(value == state ? 1 : 0);
        }
    }
}

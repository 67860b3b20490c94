using Inspection.Core;
using Prometheus;

namespace Inspection.Worker.Observability;

/// <summary>
/// The worker's Prometheus metrics, in a registry of its own (what /metrics serves). Latencies are histograms
/// in seconds; per-camera series carry a "camera" label. Counters owned by other parts (camera sources, the MQTT
/// queue) are copied in just before each scrape.
/// </summary>
public sealed class WorkerMetrics
{
    private static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.001, 2, 14); // 1 ms .. 8 s
    private readonly List<Action> _beforeScrape = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CameraMetrics> _cameras = new(StringComparer.Ordinal);

    public WorkerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        FramesRead = factory.CreateCounter("inspection_frames_read_total", "Frames read from the camera.", ["camera"]);
        FramesDropped = factory.CreateCounter("inspection_frames_dropped_total", "Frames dropped at the camera (buffer full, no free buffer, rate cap).", ["camera"]);
        FramesInspected = factory.CreateCounter("inspection_frames_inspected_total", "Frames that went through the detector.", ["camera"]);
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
        MqttFailures = factory.CreateCounter("inspection_mqtt_failures_total", "Messages the broker refused or the full queue dropped.", ["kind"]);
        ModelInfo = factory.CreateGauge("inspection_model_info", "The model serving, as labels; the value is 1.", ["name", "version", "provider"]);
        Commands = factory.CreateCounter("inspection_commands_total", "Commands (and refused triggers and connections) by outcome: accepted, refused, failed, timed_out.", ["command", "outcome"]);
        Triggers = factory.CreateCounter("inspection_triggers_total", "Triggers received, by outcome.", ["camera", "outcome"]);
        Evidence = factory.CreateCounter("inspection_evidence_total", "Evidence items, by outcome.", ["kind", "outcome"]);
        ModelSwaps = factory.CreateCounter("inspection_model_swaps_total", "Model changes by outcome: swapped, rolled_back, refused.", ["outcome"]);
        ModelChecks = factory.CreateHistogram("inspection_model_check_seconds", "Time of each check a candidate model passes before it may serve: signature (hashing its files and verifying), process (the check in a child process), load (loading and checking it in the worker).", ["check"], new HistogramConfiguration { Buckets = LatencyBuckets });
        Heartbeats = factory.CreateCounter("inspection_heartbeats_total", "Golden-set heartbeats by outcome.", ["outcome"]);
        HeartbeatOk = factory.CreateGauge("inspection_heartbeat_ok", "1 when the last golden-set heartbeat passed, 0 when it failed.");
        ShadowFrames = factory.CreateCounter("inspection_shadow_frames_total", "Frames the shadow candidate inspected.", ["candidate"]);
        ShadowVerdictAgreement = factory.CreateGauge("inspection_shadow_verdict_agreement", "Share of shadow frames where the candidate's verdict equals the serving model's.", ["candidate"]);
        ShadowDetectionAgreement = factory.CreateGauge("inspection_shadow_detection_agreement", "Matched detections (same class, IoU >= 0.5) over all detections of either model, on shadow frames.", ["candidate"]);
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
    public Counter MqttFailures { get; }
    public Gauge ModelInfo { get; }
    public Counter Triggers { get; }
    public Counter Commands { get; }
    public Counter Evidence { get; }
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

    public void SetCameraState(string camera, SourceState state)
    {
        foreach (var value in Enum.GetValues<SourceState>())
        {
            CameraState.WithLabels(camera, value.ToString().ToLowerInvariant()).Set(value == state ? 1 : 0);
        }
    }
}

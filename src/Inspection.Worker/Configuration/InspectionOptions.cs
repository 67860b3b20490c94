using System.ComponentModel.DataAnnotations;
using Inspection.Inference;
using Inspection.Messaging;
using Inspection.Messaging.Sparkplug;
using Inspection.Vision;

namespace Inspection.Worker.Configuration;

/// <summary>
/// Everything the worker is told, bound from the "Inspection" section of appsettings.json, an optional
/// --config file and environment variables (Inspection__Cameras__0__Uri). docs/configuration.md explains each value.
/// </summary>
public sealed class InspectionOptions
{
    public const string Section = "Inspection";

    /// <summary>The cameras; when none is configured the worker plays the bundled demo pictures as one.</summary>
    public List<WorkerCameraOptions> Cameras { get; set; } = [];

    /// <summary>The model and where it runs: a registry's current version, a file, or (neither) the bundled demo model.</summary>
    public ModelOptions Model { get; set; } = new();

    public BatchingOptions Batching { get; set; } = new();

    /// <summary>What makes a frame NG. Reloaded when the configuration file changes.</summary>
    public RulesOptions Rules { get; set; } = new();

    public MqttOptions Mqtt { get; set; } = new();

    /// <summary>Sparkplug B for SCADA hosts, beside or instead of the JSON results (docs/sparkplug.md).</summary>
    public SparkplugOptions Sparkplug { get; set; } = new();

    public EvidenceOptions Evidence { get; set; } = new();

    /// <summary>Who may steer the line: users and roles, signed commands, where replies may go, how commands run (docs/security.md).</summary>
    public AccessOptions Access { get; set; } = new();

    public HttpOptions Http { get; set; } = new();

    /// <summary>The line's screen on its own listener (docs/web.md); its public base URL names evidence pictures in results.</summary>
    public Inspection.Web.WebOptions Web { get; set; } = new();

    /// <summary>On SIGTERM: stop the cameras, finish the batches in flight and flush MQTT within this time.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>The detector's settings, and where the model comes from.</summary>
public sealed class ModelOptions : DetectorOptions
{
    /// <summary>A model registry folder; with <see cref="Name"/>, the worker serves that model's current version and follows it.</summary>
    public string? Registry { get; set; }

    /// <summary>The model's name in the registry.</summary>
    [RegularExpression("^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$", ErrorMessage = "Model names are 1-64 letters, digits, '-', '_' or '.'.")]
    public string? Name { get; set; }

    /// <summary>How often the registry's current-version pointer is read.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan RegistryPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the serving model's golden set is run and the outcome published; 0 switches it off.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The public key (PEM, from 'inspection models keygen') registry versions must be signed with: with it, a
    /// version that is unsigned, signed by another key or changed since signing never serves. The worker needs no
    /// private key.
    /// </summary>
    public string? PublicKeyFile { get; set; }

    /// <summary>How long a candidate's check in a child process may take before the candidate is refused.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A candidate beside the serving model on a sample of live frames.</summary>
    public ShadowOptions Shadow { get; set; } = new();
}

/// <summary>Shadow mode: how many batches the candidate sees, and the agreement promotion requires.</summary>
public sealed class ShadowOptions
{
    /// <summary>The share of batches the candidate also inspects.</summary>
    [Range(0.0, 1.0)]
    public double SampleRate { get; set; } = 0.2;

    /// <summary>Promotion by command requires this verdict agreement in shadow mode first (0: no shadow run needed).</summary>
    [Range(0.0, 1.0)]
    public double MinAgreement { get; set; }

    /// <summary>Frames the candidate must have seen before its agreement counts.</summary>
    [Range(1, 1_000_000)]
    public int MinFrames { get; set; } = 50;
}

/// <summary>When a camera is inspected.</summary>
public enum InspectionMode
{
    /// <summary>Every frame the camera delivers.</summary>
    Continuous,

    /// <summary>Only the frame nearest each trigger a PLC publishes on the camera's trigger topic.</summary>
    Triggered,
}

/// <summary>A camera as the worker sees it: the source's settings plus how and by which rules it is inspected.</summary>
public sealed class WorkerCameraOptions : CameraOptions
{
    public InspectionMode Mode { get; set; } = InspectionMode.Continuous;

    /// <summary>Triggered mode: the verdict must be published within this time of the trigger's arrival, or a missed deadline is.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan TriggerDeadline { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Triggered mode: recent frames kept to choose from (less than MaxFramesInFlight).</summary>
    [Range(1, 64)]
    public int TriggerHistory { get; set; } = 4;

    /// <summary>Rules for this camera only; unset values take the line's <see cref="InspectionOptions.Rules"/>.</summary>
    public CameraRulesOptions Rules { get; set; } = new();
}

/// <summary>How frames from all cameras are put together for the detector.</summary>
public sealed class BatchingOptions
{
    /// <summary>Frames per detector call at most. A model exported with a fixed batch size takes that size.</summary>
    [Range(1, 64)]
    public int MaxBatchSize { get; set; } = 8;

    /// <summary>
    /// How long a started batch waits for more frames before it goes to the detector anyway. Batches are formed when
    /// the detector is free, so when it is the bottleneck frames are waiting and no batch waits at all.
    /// </summary>
    [Range(0, 1000)]
    public int MaxWaitMilliseconds { get; set; } = 10;

    /// <summary>
    /// A live camera's frame older than this when its batch forms is dropped, not inspected (counted per camera in
    /// inspection_frames_stale_total): a verdict on the line must be about what is in front of the camera now. Never
    /// a triggered frame, nor one from a camera with the DeliverAll policy. 0 inspects every frame however old.
    /// </summary>
    [Range(0, 600_000)]
    public int MaxFrameAgeMilliseconds { get; set; } = 1000;
}

/// <summary>The line's rules. Confidence thresholds per class by name; a class that is not a defect never makes a frame NG.</summary>
public sealed class RulesOptions
{
    /// <summary>The confidence a detection needs to count, for classes without their own.</summary>
    [Range(0.0, 1.0)]
    public double Confidence { get; set; } = 0.25;

    /// <summary>Non-maximum suppression's IoU threshold.</summary>
    [Range(0.0, 1.0)]
    public double IoU { get; set; } = 0.45;

    [Range(1, 10_000)]
    public int MaxDetections { get; set; } = 300;

    /// <summary>Per class (by the model's class name): its own confidence, and whether it is a defect.</summary>
    public Dictionary<string, ClassRuleOptions> Classes { get; set; } = [];

    /// <summary>Detections narrower or lower than this many source pixels are ignored.</summary>
    [Range(0, 100_000)]
    public double MinBoxWidth { get; set; }

    [Range(0, 100_000)]
    public double MinBoxHeight { get; set; }

    /// <summary>A frame with a detection within this much of its class's threshold is uncertain, and may be kept as evidence.</summary>
    [Range(0.0, 0.5)]
    public double UncertainMargin { get; set; } = 0.1;

    /// <summary>How far a command (set-thresholds) may move a class's confidence threshold: a threshold of 1.0 would pass every part.</summary>
    public ThresholdLimits CommandLimits { get; set; } = new();
}

/// <summary>The range of confidence thresholds commands may set.</summary>
public sealed class ThresholdLimits
{
    [Range(0.0, 1.0)]
    public double MinConfidence { get; set; } = 0.05;

    [Range(0.0, 1.0)]
    public double MaxConfidence { get; set; } = 0.95;
}

public sealed class ClassRuleOptions
{
    [Range(0.0, 1.0)]
    public double? Confidence { get; set; }

    /// <summary>False for classes that are found but are no defect (a part, a fixture).</summary>
    public bool Defect { get; set; } = true;
}

/// <summary>A camera's own rules: regions and masks as polygons "x,y x,y x,y ..." in 0..1 of the picture's width and height.</summary>
public sealed class CameraRulesOptions
{
    /// <summary>Only detections whose centre lies in one of these count; none: the whole picture.</summary>
    public List<string> Regions { get; set; } = [];

    /// <summary>Detections whose centre lies in one of these are ignored (a fixture, a label, a reflection).</summary>
    public List<string> IgnoreMasks { get; set; } = [];

    /// <summary>Per-class overrides for this camera.</summary>
    public Dictionary<string, ClassRuleOptions> Classes { get; set; } = [];

    [Range(0.0, 1.0)]
    public double? Confidence { get; set; }

    [Range(0, 100_000)]
    public double? MinBoxWidth { get; set; }

    [Range(0, 100_000)]
    public double? MinBoxHeight { get; set; }
}

/// <summary>Who may steer the line, and how commands are taken.</summary>
public sealed class AccessOptions
{
    /// <summary>
    /// The users and their roles (<c>inspection broker users add</c>). The embedded broker admits only them, each by
    /// its role's topic rules, and tells the worker who sent each command; <c>inspection broker passwd</c> and
    /// <c>acl</c> write the same for a mosquitto. Without it the embedded broker is anonymous and loopback only.
    /// </summary>
    public string? UsersFile { get; set; }

    /// <summary>The keys commands may be signed with (<c>inspection command keygen</c>).</summary>
    public string? CommandKeysFile { get; set; }

    /// <summary>Refuse every command that is not signed with a key of <see cref="CommandKeysFile"/>: for brokers without ACLs.</summary>
    public bool RequireSignedCommands { get; set; }

    /// <summary>A signed command is taken only within this time of its signature, and each only once.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan SignatureWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// MQTT 5 response topics a request may name outside the line's own tree (filters such as "plc/replies/#");
    /// inside the tree, {line}/replies/{user}/# is always allowed. A request naming any other is refused.
    /// </summary>
    public List<string> ResponseTopics { get; set; } = [];

    /// <summary>A command that runs longer is cancelled (a cancelled promotion leaves the serving model) and answered as timed out.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Commands waiting their turn at most; beyond that a command is refused as busy.</summary>
    [Range(1, 1024)]
    public int CommandQueueCapacity { get; set; } = 32;
}

/// <summary>NG frames and a sample of uncertain ones, kept as a dataset the trainer reads as it is.</summary>
public sealed class EvidenceOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>The dataset folder (data.yaml, images/, labels/, meta/); nothing is ever written outside it.</summary>
    [Required]
    public string Directory { get; set; } = "data/evidence";

    /// <summary>When the folder holds more than this, the oldest items are deleted first.</summary>
    [Range(1, 10_000_000)]
    public long MaxMegabytes { get; set; } = 2048;

    public bool SaveNg { get; set; } = true;

    /// <summary>The share of uncertain frames kept (0 to 1).</summary>
    [Range(0.0, 1.0)]
    public double UncertainSampleRate { get; set; } = 0.05;

    [Range(1, 100)]
    public int JpegQuality { get; set; } = 95;

    /// <summary>Items waiting to be written at most; beyond that new ones are dropped and counted.</summary>
    [Range(1, 1024)]
    public int QueueCapacity { get; set; } = 32;
}

/// <summary>The HTTP endpoint for /metrics and /health.</summary>
public sealed class HttpOptions
{
    /// <summary>Where to listen; localhost by default. Use http://0.0.0.0:9400 to let a Prometheus on another host scrape it.</summary>
    [Required]
    public string Url { get; set; } = "http://127.0.0.1:9400";
}

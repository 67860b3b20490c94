namespace Inspection.Core;

/// <summary>What the line is told about one frame.</summary>
public enum Verdict
{
    /// <summary>Inspected, and no rule found a defect.</summary>
    Ok,

    /// <summary>Inspected, and a rule found a defect.</summary>
    Ng,

    /// <summary>Not inspectable: the picture failed its integrity checks, or the camera is down.</summary>
    Unknown,
}

/// <summary>The outcome of inspecting one frame: published to the line, stored as evidence, counted in metrics.</summary>
public sealed record InspectionResult
{
    /// <summary>Unique to this result (UUID v7): the key a subscriber deduplicates by, since delivery is at least once.</summary>
    public Guid Id { get; init; } = Guid.CreateVersion7();

    /// <summary>The worker run that judged it (<see cref="ProcessRun"/>): sequences start again at every run.</summary>
    public Guid RunId { get; init; } = ProcessRun.Id;

    public required string CameraId { get; init; }

    /// <summary>The frame's sequence number from its camera.</summary>
    public required long Sequence { get; init; }

    public required DateTimeOffset CaptureTime { get; init; }

    public required string ModelName { get; init; }

    public required string ModelVersion { get; init; }

    public required Verdict Verdict { get; init; }

    /// <summary>Detections in source pixels; class names come from <see cref="ClassNames"/>.</summary>
    public required IReadOnlyList<Detection> Detections { get; init; }

    /// <summary>The model's class names by id.</summary>
    public required IReadOnlyList<string> ClassNames { get; init; }

    public TimeSpan InferenceLatency { get; init; }

    public int Width { get; init; }

    public int Height { get; init; }

    public FrameIntegrity Integrity { get; init; }

    /// <summary>The part the PLC named for this inspection, when it did.</summary>
    public string? PartId { get; init; }

    /// <summary>Why the verdict is what it is, when that is not obvious (an UNKNOWN's cause, the rule an NG broke).</summary>
    public string? Reason { get; init; }

    /// <summary>The evidence item its frame was queued as, named before publishing; null when the frame is not kept.</summary>
    public EvidenceRef? Evidence { get; init; }

    public string ClassName(int classId) =>
        (uint)classId < (uint)ClassNames.Count ? ClassNames[classId] : classId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

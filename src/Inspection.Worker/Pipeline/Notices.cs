using Inspection.Core;
using Inspection.Worker.Serving;

namespace Inspection.Worker.Pipeline;

/// <summary>Verdicts about no frame.</summary>
public static class Notices
{
    /// <summary>An UNKNOWN about no frame (sequence 0): a camera that went down, a trigger that could not be answered.</summary>
    public static InspectionResult Unknown(ServingModel serving, string camera, DateTimeOffset time, string? partId, string reason) => new()
    {
        CameraId = camera,
        Sequence = 0,
        CaptureTime = time,
        ModelName = serving.Name,
        ModelVersion = serving.Version,
        Verdict = Verdict.Unknown,
        Reason = reason,
        Detections = [],
        ClassNames = serving.Info.Names,
        PartId = partId,
    };
}

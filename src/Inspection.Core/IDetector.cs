namespace Inspection.Core;

/// <summary>Limits applied to a detector's output. Changing them needs no model reload.</summary>
public readonly record struct DetectionThresholds(float Confidence = 0.25f, float IoU = 0.45f, int MaxDetections = 300)
{
    public static DetectionThresholds Default => new(0.25f, 0.45f, 300);

    /// <summary>Throws an <see cref="InspectionInputException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        if (!(Confidence is >= 0f and <= 1f))
        {
            throw new InspectionInputException($"Confidence threshold {Confidence} is outside 0..1.");
        }

        if (!(IoU is >= 0f and <= 1f))
        {
            throw new InspectionInputException($"IoU threshold {IoU} is outside 0..1.");
        }

        if (MaxDetections is < 1 or > 10_000)
        {
            throw new InspectionInputException($"Maximum detections {MaxDetections} is outside 1..10000.");
        }
    }
}

/// <summary>An object detector. Implementations are safe to call from several threads at once.</summary>
public interface IDetector : IAsyncDisposable
{
    ModelInfo Model { get; }

    /// <summary>
    /// Detects objects in each image; <paramref name="results"/>[i] is cleared and filled with the detections of
    /// <paramref name="images"/>[i], boxes in that image's pixels, best score first.
    /// </summary>
    void Detect(ReadOnlySpan<ImageView> images, ReadOnlySpan<List<Detection>> results, DetectionThresholds thresholds);
}

namespace Inspection.Core;

/// <summary>
/// Something that wants a look at a frame's pixels (the web view's live picture). The pipeline asks each tap after
/// the result is built and before the frame's pooled pixels go back; none registered costs nothing.
/// </summary>
public interface IFrameTap
{
    /// <summary>Cheap: a viewer is connected and the rate allows one now.</summary>
    bool Wants(string cameraId, long nowTimestamp);

    /// <summary>Copy what you keep; no encoding; never blocks.</summary>
    void Take(in ImageView image, InspectionResult result);
}

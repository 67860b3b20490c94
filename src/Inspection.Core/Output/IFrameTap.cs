namespace Inspection.Core;

/// <summary>
/// Sees a frame's pixels together with its result, on the detector's thread, before the pooled pixels are reused:
/// what a live view needs and a sink (which only gets the result) cannot have. The pipeline asks every registered
/// tap per frame; with none registered it costs nothing.
/// </summary>
public interface IFrameTap
{
    /// <summary>Cheap: whether this frame is wanted now (someone watches the camera and the rate allows one).</summary>
    bool Wants(string cameraId, long nowTimestamp);

    /// <summary>Copies what it keeps (the image is reused once this returns); no encoding here, and never blocks.</summary>
    void Take(in ImageView image, InspectionResult result);
}

using OpenCvSharp;

namespace Inspection.Vision;

/// <summary>What a source learned about its stream when it opened it.</summary>
public sealed record StreamInfo(int Width, int Height, double Fps, string? Codec);

/// <summary>
/// One connection's worth of reading from a file, device or stream. Calls block; a <see cref="CameraSource"/>
/// drives each reader on its camera's own thread. Problems surface as <see cref="SourceException"/>.
/// </summary>
internal interface IFrameReader : IDisposable
{
    /// <summary>Opens the source; throws a <see cref="SourceException"/> that says why it cannot.</summary>
    StreamInfo Open(CancellationToken cancel);

    /// <summary>Reads the next frame into <paramref name="destination"/> (8-bit BGR); false at the end of the stream.</summary>
    bool Read(Mat destination);

    /// <summary>Consumes the next frame without keeping it (no free buffer); false at the end of the stream.</summary>
    bool Skip();

    /// <summary>Unblocks a pending read from another thread (watchdog, stop). Safe to call at any time.</summary>
    void Abort();
}

namespace Inspection.Core;

/// <summary>Where a camera source is in its life.</summary>
public enum SourceState
{
    /// <summary>Opening the file, device or stream.</summary>
    Connecting,

    /// <summary>Delivering frames.</summary>
    Streaming,

    /// <summary>Connected but no frame arrived within the watchdog's time; about to reconnect.</summary>
    Stalled,

    /// <summary>Waiting (with back-off) before the next connection attempt after a failure.</summary>
    Reconnecting,

    /// <summary>Stopped for good: disposed, at the end of a file that does not loop, or a fault no retry can fix.</summary>
    Stopped,
}

/// <summary>A camera's state change, with the reason in words a person can act on.</summary>
public sealed record SourceStatus(string CameraId, SourceState State, string? Reason, DateTimeOffset Since);

/// <summary>
/// Counts of a camera's frames: read from the source, dropped (buffer full, no free buffer, rate cap), delivered, and
/// decoded into a pixel buffer (a frame dropped before that costs no decoding into pixels: a video stream still
/// decodes it for the frames after it, a picture or MJPEG source not at all).
/// </summary>
public readonly record struct SourceCounters(long Read, long Dropped, long Delivered, long Decoded);

using System.Diagnostics;

namespace Inspection.Vision;

/// <summary>Holds frames back to their presentation time, so a file plays like a camera.</summary>
internal sealed class Pacer(CancellationToken cancel)
{
    private long _origin;
    private double _originMs;

    /// <summary>Starts the clock again: the next frame is due at once (after opening, a seek or a loop).</summary>
    public void Restart() => _origin = 0;

    /// <summary>Waits until the frame at <paramref name="positionMs"/> in the stream is due.</summary>
    public void WaitFor(double positionMs)
    {
        if (_origin == 0)
        {
            // Streams may start at any timestamp: the first frame after a restart sets the clock.
            (_origin, _originMs) = (Stopwatch.GetTimestamp(), positionMs);
            return;
        }

        var due = TimeSpan.FromMilliseconds(positionMs - _originMs) - Stopwatch.GetElapsedTime(_origin);
        if (due > TimeSpan.Zero)
        {
            cancel.WaitHandle.WaitOne(due);
        }
    }
}

using System.Diagnostics;

namespace Inspection.Core;

/// <summary>What the integrity checks found wrong with a frame; a flagged frame gets no OK verdict.</summary>
[Flags]
public enum FrameIntegrity
{
    Ok = 0,

    /// <summary>The picture has not changed for longer than the configured time: a frozen encoder or a stuck camera.</summary>
    Frozen = 1,

    /// <summary>Almost no light: a covered lens, a dead sensor, lights off.</summary>
    Black = 2,

    /// <summary>One flat colour with no structure: a blank or saturated picture.</summary>
    Blank = 4,

    /// <summary>Far less detail than a focused picture: badly defocused or fogged.</summary>
    Blurred = 8,
}

/// <summary>Hands a frame's buffer back to whoever lent it once the frame is disposed.</summary>
public interface IFrameRecycler
{
    void Recycle(Frame frame);
}

/// <summary>
/// One picture from a camera with where and when it was taken. Frames are pooled: the producer fills one, the
/// last consumer disposes it, which returns its buffer for the next picture. Use a frame only until you
/// dispose it or hand it on.
/// </summary>
public sealed class Frame : IDisposable
{
    private readonly IFrameRecycler? _recycler;
    private int _lent;

    public Frame(IFrameRecycler? recycler = null) => _recycler = recycler;

    public string CameraId { get; private set; } = string.Empty;

    /// <summary>Numbers the frames a camera delivered, from 1, without gaps across reconnections.</summary>
    public long Sequence { get; private set; }

    /// <summary>When the frame was read, on the monotonic <see cref="Stopwatch"/> clock (for ages and latencies).</summary>
    public long CaptureTimestamp { get; private set; }

    /// <summary>When the frame was read, on the wall clock (for people and other machines).</summary>
    public DateTimeOffset CaptureTime { get; private set; }

    public ImageView Image { get; private set; }

    public FrameIntegrity Integrity { get; set; }

    public int Width => Image.Width;
    public int Height => Image.Height;

    /// <summary>Fills in a frame taken from a pool; called by the producer before it hands the frame on.</summary>
    public void Stamp(string cameraId, long sequence, ImageView image, long captureTimestamp, DateTimeOffset captureTime)
    {
        CameraId = cameraId;
        Sequence = sequence;
        Image = image;
        CaptureTimestamp = captureTimestamp;
        CaptureTime = captureTime;
        Integrity = FrameIntegrity.Ok;
        Volatile.Write(ref _lent, 1);
    }

    /// <summary>Returns the frame to its pool. Disposing twice is harmless.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _lent, 0) == 1)
        {
            _recycler?.Recycle(this);
        }
    }
}

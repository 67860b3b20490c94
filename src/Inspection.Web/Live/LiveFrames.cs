using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Inspection.Core;

namespace Inspection.Web;

/// <summary>An annotated, encoded frame of one camera; immutable, shared by every viewer.</summary>
public sealed record LiveFrame(byte[] Jpeg, long Version, long Sequence, DateTimeOffset Capture, Verdict Verdict, int SourceWidth, int SourceHeight);

/// <summary>
/// The live picture of each camera, taken from the pipeline only while someone watches. The detector's part is a
/// copy of the pixels into this camera's own buffer, at most <see cref="WebLiveOptions.MaxFps"/> a second, and
/// nothing at all while the encoder still holds the previous one; <see cref="LiveEncoder"/> draws and encodes.
/// </summary>
public sealed class LiveFrames(WebOptions options) : IFrameTap
{
    /// <summary>How long a latest.jpg request keeps a camera's picture coming without a stream open.</summary>
    public static readonly TimeSpan ArmTime = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, CameraSlot> _slots = new(StringComparer.Ordinal);
    private readonly Channel<CameraSlot> _pending = Channel.CreateUnbounded<CameraSlot>(new UnboundedChannelOptions { SingleReader = true });

    internal ChannelReader<CameraSlot> Pending => _pending.Reader;

    public CameraSlot Slot(string cameraId) => _slots.GetOrAdd(cameraId, id => new CameraSlot(id));

    public bool Wants(string cameraId, long nowTimestamp)
    {
        var slot = Slot(cameraId);
        var watched = Volatile.Read(ref slot.Streams) > 0;
        if (!watched && Volatile.Read(ref slot.ArmedUntil) <= nowTimestamp)
        {
            return false;
        }

        var interval = (long)(Stopwatch.Frequency / (watched ? options.Live.MaxFps : options.Live.Fps));
        if (nowTimestamp - slot.LastTaken < interval || slot.Pending)
        {
            return false;
        }

        slot.LastTaken = nowTimestamp;
        return true;
    }

    public void Take(in ImageView image, InspectionResult result)
    {
        var slot = Slot(result.CameraId);
        if (!slot.Gate.TryEnter())
        {
            return; // the encoder has the buffer: this frame is skipped, the next one is newer anyway
        }

        try
        {
            var row = image.Width * image.Channels;
            var size = row * image.Height;
            if (slot.Pixels.Length < size)
            {
                ArrayPool<byte>.Shared.Return(slot.Pixels);
                slot.Pixels = ArrayPool<byte>.Shared.Rent(size);
            }

            var source = image.Pixels.Span;
            for (var y = 0; y < image.Height; y++)
            {
                source.Slice(y * image.Stride, row).CopyTo(slot.Pixels.AsSpan(y * row, row));
            }

            (slot.Width, slot.Height, slot.Channels, slot.Result) = (image.Width, image.Height, image.Channels, result);
            slot.Pending = true;
        }
        finally
        {
            slot.Gate.Exit();
        }

        _pending.Writer.TryWrite(slot);
    }

    /// <summary>Keeps the camera's picture coming for <see cref="ArmTime"/> (latest.jpg callers have no stream open).</summary>
    public void Arm(string cameraId, long nowTimestamp) =>
        Volatile.Write(ref Slot(cameraId).ArmedUntil, nowTimestamp + (long)(ArmTime.TotalSeconds * Stopwatch.Frequency));
}

/// <summary>One camera's live state: the pixel buffer the detector fills, and the newest encoded frame.</summary>
public sealed class CameraSlot(string cameraId)
{
    internal readonly Lock Gate = new();
    internal int Streams;
    internal long ArmedUntil;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LiveFrame? _frame;

    public string CameraId { get; } = cameraId;

    public LiveFrame? Frame => Volatile.Read(ref _frame);

    internal long LastTaken { get; set; } = long.MinValue / 2;
    internal volatile bool Pending;
    internal byte[] Pixels { get; set; } = [];
    internal int Width { get; set; }
    internal int Height { get; set; }
    internal int Channels { get; set; }
    internal InspectionResult? Result { get; set; }

    /// <summary>A viewer that holds a stream open: frames come at the stream rate while at least one does.</summary>
    public IDisposable Watch()
    {
        Interlocked.Increment(ref Streams);
        return new Watcher(this);
    }

    /// <summary>The first frame newer than <paramref name="afterVersion"/>, waiting for it if need be.</summary>
    public async Task<LiveFrame> NextAsync(long afterVersion, CancellationToken cancel)
    {
        while (true)
        {
            var waiter = Volatile.Read(ref _next).Task;
            if (Frame is { } frame && frame.Version > afterVersion)
            {
                return frame;
            }

            await waiter.WaitAsync(cancel).ConfigureAwait(false);
        }
    }

    internal void Publish(LiveFrame frame)
    {
        Volatile.Write(ref _frame, frame);
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private sealed class Watcher(CameraSlot slot) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref slot.Streams);
            }
        }
    }
}

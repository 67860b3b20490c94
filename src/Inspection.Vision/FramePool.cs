using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Vision;

/// <summary>
/// A camera's frame buffers: OpenCV-owned Mats that decoders write into in place, each paired once with its
/// <see cref="Frame"/>. The pool never holds more than its capacity, so a camera's memory is bounded whatever
/// its consumers do; when every buffer is out, the source drops (live) or waits (deliver-every-frame).
/// </summary>
internal sealed class FramePool : IFrameRecycler, IDisposable
{
    private readonly Lock _gate = new();
    private readonly Stack<Slot> _free = new();
    private readonly Dictionary<Frame, Slot> _slots = [];
    private readonly SemaphoreSlim _available;
    private bool _disposed;

    public FramePool(int capacity)
    {
        _available = new SemaphoreSlim(capacity, capacity);
        for (var i = 0; i < capacity; i++)
        {
            var slot = new Slot(new Frame(this));
            _slots[slot.Frame] = slot;
            _free.Push(slot);
        }
    }

    /// <summary>Takes a free buffer, waiting up to <paramref name="timeout"/>; null when none came free.</summary>
    public Slot? TryRent(TimeSpan timeout, CancellationToken cancel)
    {
        if (!_available.Wait(timeout, cancel))
        {
            return null;
        }

        lock (_gate)
        {
            return _free.Pop();
        }
    }

    public void Recycle(Frame frame)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                _slots[frame].Mat.Dispose();
                return;
            }

            _free.Push(_slots[frame]);
        }

        _available.Release();
    }

    /// <summary>Returns a buffer that was rented but not handed on as a frame.</summary>
    public void Return(Slot slot) => Recycle(slot.Frame);

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            while (_free.Count > 0)
            {
                _free.Pop().Mat.Dispose();
            }
        }
    }

    /// <summary>One buffer: a Mat the decoder writes into and the frame that carries it.</summary>
    internal sealed class Slot(Frame frame)
    {
        private NativeMemory? _buffer;

        public Frame Frame { get; } = frame;

        public Mat Mat { get; } = new();

        /// <summary>A view of the Mat's pixels; rebuilt only when a new size reallocated the Mat.</summary>
        public ImageView View()
        {
            var length = (int)(Mat.Step() * Mat.Rows);
            if (_buffer is null || _buffer.Pointer != Mat.Data || _buffer.Length != length)
            {
                _buffer = new NativeMemory(Mat.Data, length);
            }

            return new ImageView(_buffer.Memory, Mat.Cols, Mat.Rows, Mat.Channels(), (int)Mat.Step());
        }
    }
}

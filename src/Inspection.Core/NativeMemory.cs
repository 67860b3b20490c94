using System.Buffers;

namespace Inspection.Core;

/// <summary>
/// Native memory (an OpenCV Mat's pixels, say) seen as <see cref="Memory{T}"/>, so an <see cref="ImageView"/> can
/// borrow it without a copy. The owner of the memory keeps it alive while the view is used.
/// </summary>
public sealed unsafe class NativeMemory(IntPtr pointer, int length) : MemoryManager<byte>
{
    public IntPtr Pointer => pointer;

    public int Length => length;

    public override Span<byte> GetSpan() => new((void*)pointer, length);

    public override MemoryHandle Pin(int elementIndex = 0) => new((byte*)pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}

namespace Inspection.Core;

/// <summary>
/// A borrowed view of 8-bit interleaved pixels: 1 channel (gray), 3 (BGR, OpenCV's order) or 4 (BGRA).
/// The owner of <see cref="Pixels"/> keeps it alive and unchanged while the view is in use.
/// </summary>
public readonly struct ImageView
{
    public ImageView(ReadOnlyMemory<byte> pixels, int width, int height, int channels, int stride = 0)
    {
        if (width <= 0 || height <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"An image needs a positive size; got {width}x{height}.");
        }

        if (channels is not (1 or 3 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), $"Images have 1 (gray), 3 (BGR) or 4 (BGRA) channels; got {channels}.");
        }

        stride = stride == 0 ? width * channels : stride;
        if (stride < width * channels || pixels.Length < ((long)stride * (height - 1)) + (width * channels))
        {
            throw new ArgumentException($"A {width}x{height}x{channels} image with stride {stride} does not fit in {pixels.Length} bytes.", nameof(pixels));
        }

        Pixels = pixels;
        Width = width;
        Height = height;
        Channels = channels;
        Stride = stride;
    }

    public ReadOnlyMemory<byte> Pixels { get; }
    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }

    /// <summary>Bytes from the start of one row to the start of the next.</summary>
    public int Stride { get; }
}

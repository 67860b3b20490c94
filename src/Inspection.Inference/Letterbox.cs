using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Inference;

/// <summary>
/// The geometry of Ultralytics' LetterBox (keep aspect, centre, pad) for one source size and one model size,
/// and the inverse mapping of its scale_boxes. Rounding follows Python's: half to even.
/// </summary>
public readonly record struct Letterbox(int SourceWidth, int SourceHeight, int TargetWidth, int TargetHeight)
{
    public double Gain => Math.Min((double)TargetHeight / SourceHeight, (double)TargetWidth / SourceWidth);

    public int ResizedWidth => (int)Math.Round(SourceWidth * Gain);
    public int ResizedHeight => (int)Math.Round(SourceHeight * Gain);

    /// <summary>Columns of padding left of the image: round(dw - 0.1), as LetterBox places it.</summary>
    public int PadLeft => (int)Math.Round(((TargetWidth - ResizedWidth) / 2.0) - 0.1);

    public int PadTop => (int)Math.Round(((TargetHeight - ResizedHeight) / 2.0) - 0.1);

    /// <summary>Maps a box from model-input pixels back to source pixels and clips it (scale_boxes).</summary>
    public BoundingBox ToSource(float x1, float y1, float x2, float y2)
    {
        var gain = Gain;
        var padX = Math.Round(((TargetWidth - (SourceWidth * gain)) / 2) - 0.1);
        var padY = Math.Round(((TargetHeight - (SourceHeight * gain)) / 2) - 0.1);
        return new BoundingBox(
            (float)((x1 - padX) / gain), (float)((y1 - padY) / gain),
            (float)((x2 - padX) / gain), (float)((y2 - padY) / gain)).ClipTo(SourceWidth, SourceHeight);
    }
}

/// <summary>
/// Letterboxes one image into one slot of a model input: resize with OpenCV's INTER_LINEAR and pad 114, either
/// into bytes as decoded (HWC, BGR: the graph converts them, see <see cref="PixelGraft"/>) or into the NCHW float
/// tensor the model takes (RGB, divided by 255: the reference). Gray images fill all three channels; BGRA drops
/// alpha. Holds one reusable resize buffer, so a preprocessor serves one thread at a time.
/// </summary>
public sealed class LetterboxPreprocessor : IDisposable
{
    public const byte PadValue = 114;

    // x / 255f for every byte, so the division matches Ultralytics' float32 `im /= 255` exactly.
    private static readonly float[] ByteToUnit = Enumerable.Range(0, 256).Select(i => i / 255f).ToArray();

    private readonly Mat _resized = new();

    /// <summary>Fills <paramref name="hwc"/> (height x width x 3 bytes, BGR) from <paramref name="image"/>.</summary>
    public unsafe Letterbox RunBytes(in ImageView image, Span<byte> hwc, int width, int height)
    {
        var box = new Letterbox(image.Width, image.Height, width, height);
        Require(hwc.Length, 3 * width * height, width, height, "bytes");
        using var pin = image.Pixels.Pin();
        var (resized, stride) = Resize(image, box, (byte*)pin.Pointer);
        var pixels = (byte*)resized;
        var (left, top, w, h) = (box.PadLeft, box.PadTop, box.ResizedWidth, box.ResizedHeight);
        var row = 3 * width;
        hwc[..(top * row)].Fill(PadValue);
        hwc[((top + h) * row)..(height * row)].Fill(PadValue);
        for (var y = 0; y < h; y++)
        {
            var line = hwc.Slice((top + y) * row, row);
            line[..(3 * left)].Fill(PadValue);
            line[(3 * (left + w))..].Fill(PadValue);
            var target = line.Slice(3 * left, 3 * w);
            var source = pixels + ((long)y * stride);
            switch (image.Channels)
            {
                case 3:
                    new ReadOnlySpan<byte>(source, 3 * w).CopyTo(target);
                    break;
                case 1:
                    for (var x = 0; x < w; x++)
                    {
                        target[3 * x] = target[(3 * x) + 1] = target[(3 * x) + 2] = source[x];
                    }

                    break;
                default:
                    for (var x = 0; x < w; x++)
                    {
                        target[3 * x] = source[4 * x];
                        target[(3 * x) + 1] = source[(4 * x) + 1];
                        target[(3 * x) + 2] = source[(4 * x) + 2];
                    }

                    break;
            }
        }

        return box;
    }

    /// <summary>Fills <paramref name="chw"/> (3 x height x width floats) from <paramref name="image"/>.</summary>
    public unsafe Letterbox Run(in ImageView image, Span<float> chw, int width, int height)
    {
        var box = new Letterbox(image.Width, image.Height, width, height);
        var plane = width * height;
        Require(chw.Length, 3 * plane, width, height, "floats");
        using var pin = image.Pixels.Pin();
        var (resized, stride) = Resize(image, box, (byte*)pin.Pointer);
        var pixels = (byte*)resized;
        var pad = ByteToUnit[PadValue];
        var red = chw[..plane];
        var green = chw.Slice(plane, plane);
        var blue = chw.Slice(2 * plane, plane);
        FillPadding(red, box, width, height, pad);
        FillPadding(green, box, width, height, pad);
        FillPadding(blue, box, width, height, pad);
        CopyPixels(pixels, stride, image.Channels, box, width, red, green, blue);
        return box;
    }

    public void Dispose() => _resized.Dispose();

    private static void Require(int length, int needed, int width, int height, string unit)
    {
        if (length < needed)
        {
            throw new ArgumentException($"The tensor slot holds {length} {unit}; a {width}x{height} image needs {needed}.");
        }
    }

    /// <summary>The image at the letterbox's size: the pinned pixels themselves when no resize is needed.</summary>
    private unsafe (IntPtr Pixels, int Stride) Resize(in ImageView image, in Letterbox box, byte* pinned)
    {
        if (box.ResizedWidth == image.Width && box.ResizedHeight == image.Height)
        {
            return ((IntPtr)pinned, image.Stride);
        }

        using var source = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC(image.Channels), (IntPtr)pinned, image.Stride);
        Cv2.Resize(source, _resized, new Size(box.ResizedWidth, box.ResizedHeight), 0, 0, InterpolationFlags.Linear);
        return (_resized.Data, (int)_resized.Step());
    }
    private static void FillPadding(Span<float> plane, in Letterbox box, int width, int height, float value)
    {
        var (left, top, w, h) = (box.PadLeft, box.PadTop, box.ResizedWidth, box.ResizedHeight);
        plane[..(top * width)].Fill(value);
        plane[((top + h) * width)..].Fill(value);
        var right = width - left - w;
        for (var y = top; y < top + h; y++)
        {
            plane.Slice(y * width, left).Fill(value);
            plane.Slice((y * width) + left + w, right).Fill(value);
        }
    }

    private static unsafe void CopyPixels(byte* pixels, int stride, int channels, in Letterbox box, int width, Span<float> red, Span<float> green, Span<float> blue)
    {
        var lut = ByteToUnit;
        var (left, top, w, h) = (box.PadLeft, box.PadTop, box.ResizedWidth, box.ResizedHeight);
        for (var y = 0; y < h; y++)
        {
            var row = pixels + ((long)y * stride);
            var offset = ((top + y) * width) + left;
            var r = red.Slice(offset, w);
            var g = green.Slice(offset, w);
            var b = blue.Slice(offset, w);
            if (channels == 1)
            {
                for (var x = 0; x < w; x++)
                {
                    r[x] = g[x] = b[x] = lut[row[x]];
                }
            }
            else
            {
                for (var x = 0; x < w; x++)
                {
                    var p = row + (x * channels);
                    b[x] = lut[p[0]];
                    g[x] = lut[p[1]];
                    r[x] = lut[p[2]];
                }
            }
        }
    }
}

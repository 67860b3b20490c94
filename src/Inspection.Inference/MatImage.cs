using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Inference;

/// <summary>Between OpenCV's <see cref="Mat"/> and <see cref="ImageView"/>: views without copying, and JPEG encoding.</summary>
public static class MatImage
{
    /// <summary>The picture as JPEG bytes.</summary>
    public static unsafe byte[] EncodeJpeg(in ImageView image, int quality)
    {
        var type = image.Channels switch { 1 => MatType.CV_8UC1, 3 => MatType.CV_8UC3, _ => MatType.CV_8UC4 };
        using var pin = image.Pixels.Pin();
        using var mat = Mat.FromPixelData(image.Height, image.Width, type, (IntPtr)pin.Pointer, image.Stride);
        return mat.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));
    }

    /// <summary>The view is valid while <paramref name="mat"/> is alive and unchanged.</summary>
    public static ImageView View(Mat mat)
    {
        if (mat.Empty() || mat.Depth() != MatType.CV_8U)
        {
            throw new ArgumentException($"Expected an 8-bit image, got {(mat.Empty() ? "an empty Mat" : mat.Type().ToString())}.", nameof(mat));
        }

        var stride = (int)mat.Step();
        var length = (stride * (mat.Rows - 1)) + (mat.Cols * mat.Channels());
        return new ImageView(new NativeMemory(mat.Data, length).Memory, mat.Cols, mat.Rows, mat.Channels(), stride);
    }
}

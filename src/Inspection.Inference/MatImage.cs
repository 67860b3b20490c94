using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Inference;

/// <summary>Views an OpenCV <see cref="Mat"/>'s pixels as an <see cref="ImageView"/> without copying them.</summary>
public static class MatImage
{
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

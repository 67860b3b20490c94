using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Inference;

/// <summary>Draws detections onto an image: a box and a "class score" label per detection, one colour per class.</summary>
public static class DetectionPainter
{
    private static readonly Scalar[] Palette =
    [
        new(56, 56, 255), new(151, 157, 255), new(31, 112, 255), new(29, 178, 255), new(49, 210, 207),
        new(10, 249, 72), new(23, 204, 146), new(134, 219, 61), new(52, 147, 26), new(187, 212, 0),
        new(168, 153, 44), new(255, 194, 0), new(147, 69, 52), new(255, 115, 100), new(236, 24, 0),
        new(255, 56, 132), new(133, 0, 82), new(255, 56, 203), new(200, 149, 255), new(199, 55, 255),
    ];

    public static void Draw(Mat image, IEnumerable<Detection> detections, ModelInfo model)
    {
        var thickness = Math.Max(1, (int)Math.Round((image.Width + image.Height) / 2 * 0.003));
        var fontScale = thickness / 3.0;
        foreach (var d in detections)
        {
            var colour = Palette[d.ClassId % Palette.Length];
            var topLeft = new Point((int)d.Box.X1, (int)d.Box.Y1);
            Cv2.Rectangle(image, topLeft, new Point((int)d.Box.X2, (int)d.Box.Y2), colour, thickness, LineTypes.AntiAlias);
            var label = $"{model.ClassName(d.ClassId)} {d.Score:0.00}";
            var size = Cv2.GetTextSize(label, HersheyFonts.HersheySimplex, fontScale, Math.Max(thickness - 1, 1), out var baseline);
            var above = topLeft.Y - size.Height - baseline >= 0;
            var labelTop = above ? topLeft.Y - size.Height - baseline : topLeft.Y;
            var labelLeft = Math.Max(0, Math.Min(topLeft.X, image.Width - size.Width)); // keep labels of boxes at the right edge readable
            Cv2.Rectangle(image, new Rect(labelLeft, labelTop, size.Width, size.Height + baseline), colour, -1);
            Cv2.PutText(image, label, new Point(labelLeft, labelTop + size.Height), HersheyFonts.HersheySimplex, fontScale, Scalar.White, Math.Max(thickness - 1, 1), LineTypes.AntiAlias);
        }
    }
}

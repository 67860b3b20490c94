using System.Globalization;
using OpenCvSharp;

namespace Inspection.Training.Utils;

/// <summary>
/// Pictures of a run, drawn with OpenCV, with the names Ultralytics' utils/plotting.py gives them: results.png from
/// results.csv here, the others in Plots/.
/// </summary>
public static partial class Plotting
{
    private static readonly (string Column, string Title)[] Panels =
    [
        ("train/box_loss", "box loss"), ("train/cls_loss", "class loss"), ("train/dfl_loss", "DFL loss"),
        ("metrics/precision(B)", "precision"), ("metrics/recall(B)", "recall"), ("metrics/mAP50(B)", "mAP50"),
        ("metrics/mAP50-95(B)", "mAP50-95"), ("lr", "learning rate"),
    ];

    /// <summary>Draws one small line chart per column of results.csv, epochs along x, into a PNG.</summary>
    public static void PlotResults(string csv, string png)
    {
        var lines = File.ReadAllLines(csv);
        if (lines.Length < 2)
        {
            return;
        }

        var header = lines[0].Split(',');
        var rows = lines.Skip(1).Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        const int width = 320, height = 220, columns = 4;
        var panelRows = (Panels.Length + columns - 1) / columns;
        using var canvas = new Mat(height * panelRows, width * columns, MatType.CV_8UC3, Scalar.All(255));
        for (var p = 0; p < Panels.Length; p++)
        {
            var index = Array.IndexOf(header, Panels[p].Column);
            if (index < 0)
            {
                continue;
            }

            var values = rows.Select(r => r[index]).ToArray();
            using var panel = new Mat(canvas, new Rect((p % columns) * width, (p / columns) * height, width, height));
            DrawPanel(panel, Panels[p].Title, values);
        }

        Cv2.ImWrite(png, canvas);
    }

    /// <summary>Up to 16 images of a batch in a grid: labels in green, predictions above 0.25 in red with their scores.</summary>
    public static void PlotBatch(TorchSharp.torch.Tensor images, IReadOnlyList<ImageEvaluation> evaluations, IReadOnlyList<string> names, string png)
    {
        var count = Math.Min(16, (int)images.shape[0]);
        var size = (int)images.shape[2];
        var columns = (int)Math.Ceiling(Math.Sqrt(count));
        var rows = (count + columns - 1) / columns;
        using var grid = new Mat(rows * size, columns * size, MatType.CV_8UC3, Scalar.All(255));
        using var cpu = images.cpu();
        for (var i = 0; i < count; i++)
        {
            // [3, S, S] RGB floats to an 8-bit BGR tile.
            var pixels = cpu[i].permute(1, 2, 0).flip(2).Times(255.0).clamp(Scalars.Of(0.0), Scalars.Of(255.0)).to_type(TorchSharp.torch.ScalarType.Byte).contiguous().data<byte>().ToArray();
            using var tile = Mat.FromPixelData(size, size, MatType.CV_8UC3, pixels);
            using var target = new Mat(grid, new Rect((i % columns) * size, (i / columns) * size, size, size));
            tile.CopyTo(target);
            foreach (var (_, box) in evaluations[i].Labels)
            {
                Cv2.Rectangle(target, new Rect((int)box.X1, (int)box.Y1, (int)box.Width, (int)box.Height), new Scalar(60, 180, 60), 1);
            }

            foreach (var detection in evaluations[i].Predictions.Where(p => p.Score > 0.25f))
            {
                var b = detection.Box;
                Cv2.Rectangle(target, new Rect((int)b.X1, (int)b.Y1, (int)b.Width, (int)b.Height), new Scalar(40, 40, 230), 1);
                var name = detection.ClassId < names.Count ? names[detection.ClassId] : detection.ClassId.ToString(CultureInfo.InvariantCulture);
                Cv2.PutText(target, $"{name} {detection.Score:0.00}", new Point((int)b.X1, Math.Max(10, (int)b.Y1 - 2)), HersheyFonts.HersheySimplex, 0.35, new Scalar(40, 40, 230), 1, LineTypes.AntiAlias);
            }
        }

        Cv2.ImWrite(png, grid);
    }

    private static void DrawPanel(Mat panel, string title, double[] values)
    {
        var (left, top, right, bottom) = (50, 28, panel.Width - 12, panel.Height - 28);
        var (min, max) = (values.Min(), values.Max());
        if (max - min < 1e-12)
        {
            (min, max) = (min - 0.5, max + 0.5);
        }

        Cv2.Rectangle(panel, new Point(left, top), new Point(right, bottom), Scalar.All(200));
        Cv2.PutText(panel, title, new Point(left, 18), HersheyFonts.HersheySimplex, 0.5, Scalar.All(30), 1, LineTypes.AntiAlias);
        Cv2.PutText(panel, max.ToString("0.###", CultureInfo.InvariantCulture), new Point(2, top + 10), HersheyFonts.HersheySimplex, 0.35, Scalar.All(90), 1, LineTypes.AntiAlias);
        Cv2.PutText(panel, min.ToString("0.###", CultureInfo.InvariantCulture), new Point(2, bottom), HersheyFonts.HersheySimplex, 0.35, Scalar.All(90), 1, LineTypes.AntiAlias);
        Cv2.PutText(panel, $"epoch 1-{values.Length}", new Point(left, panel.Height - 8), HersheyFonts.HersheySimplex, 0.35, Scalar.All(90), 1, LineTypes.AntiAlias);
        Point At(int i, double v) => new(
            left + (int)Math.Round((right - left) * (values.Length == 1 ? 0.5 : (double)i / (values.Length - 1))),
            bottom - (int)Math.Round((bottom - top) * (v - min) / (max - min)));
        for (var i = 1; i < values.Length; i++)
        {
            Cv2.Line(panel, At(i - 1, values[i - 1]), At(i, values[i]), new Scalar(180, 100, 30), 2, LineTypes.AntiAlias);
        }

        if (values.Length == 1)
        {
            Cv2.Circle(panel, At(0, values[0]), 3, new Scalar(180, 100, 30), -1);
        }
    }
}

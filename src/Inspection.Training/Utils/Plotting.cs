using System.Globalization;
using OpenCvSharp;

namespace Inspection.Training.Utils;

/// <summary>
/// Pictures of a run, drawn with OpenCV, with the names Ultralytics' utils/plotting.py gives them: results.png from
/// results.csv here, the others in Plots/.
/// </summary>
public static partial class Plotting
{
    /// <summary>Ultralytics' ten panels: training losses, precision and recall above; validation losses and mAP below.</summary>
    private static readonly (string Column, string Title)[] Panels =
    [
        ("train/box_loss", "train/box_loss"), ("train/cls_loss", "train/cls_loss"), ("train/dfl_loss", "train/dfl_loss"),
        ("metrics/precision(B)", "precision"), ("metrics/recall(B)", "recall"),
        ("val/box_loss", "val/box_loss"), ("val/cls_loss", "val/cls_loss"), ("val/dfl_loss", "val/dfl_loss"),
        ("metrics/mAP50(B)", "mAP50"), ("metrics/mAP50-95(B)", "mAP50-95"),
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
        const int width = 320, height = 220, columns = 5;
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

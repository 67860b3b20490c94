using System.Globalization;
using Inspection.Datasets;
using OpenCvSharp;

namespace Inspection.Training.Utils;

public static partial class Plotting
{
    private const int LabelPanel = 500;

    /// <summary>
    /// labels.jpg (plot_labels): a split's instances per class as bars, the shapes of its first 500 boxes drawn about one
    /// centre, and 2-D histograms of the boxes' centres (x, y) and sizes (width, height) as fractions of the image.
    /// </summary>
    public static void PlotLabels(DatasetSplit split, IReadOnlyList<string> names, string jpg)
    {
        var boxes = split.Images.SelectMany(i => i.Boxes).ToList();
        using var canvas = new Mat(2 * LabelPanel, 2 * LabelPanel, MatType.CV_8UC3, Palette.White);
        using (var panel = new Mat(canvas, new Rect(0, 0, LabelPanel, LabelPanel)))
        {
            DrawInstances(panel, boxes, names);
        }

        using (var panel = new Mat(canvas, new Rect(LabelPanel, 0, LabelPanel, LabelPanel)))
        {
            DrawShapes(panel, boxes.Take(500));
        }

        using (var panel = new Mat(canvas, new Rect(0, LabelPanel, LabelPanel, LabelPanel)))
        {
            DrawHistogram(panel, "Box centres", "x", "y", boxes.Select(b => ((b.Box.X1 + b.Box.X2) / 2.0, (b.Box.Y1 + b.Box.Y2) / 2.0)));
        }

        using (var panel = new Mat(canvas, new Rect(LabelPanel, LabelPanel, LabelPanel, LabelPanel)))
        {
            DrawHistogram(panel, "Box sizes", "width", "height", boxes.Select(b => ((double)b.Box.Width, (double)b.Box.Height)));
        }

        WritePicture(jpg, canvas);
    }

    /// <summary>One bar per class in its colour, its count above it; class names under the bars while they fit.</summary>
    private static void DrawInstances(Mat panel, List<LabeledBox> boxes, IReadOnlyList<string> names)
    {
        var classes = Math.Max(names.Count, boxes.Count == 0 ? 0 : boxes.Max(b => b.ClassId) + 1);
        var counts = new int[classes];
        boxes.ForEach(b => counts[b.ClassId]++);
        var named = classes is > 0 and < 30;
        var labels = Enumerable.Range(0, classes).Select(c => Shortened(ClassName(names, c), 20)).ToArray();
        var labelWidth = named ? labels.Max(l => Cv2.GetTextSize(l, Chart.Font, Chart.TickScale, 1, out _).Width) : 0;
        var area = new Rect(80, 50, LabelPanel - 100, LabelPanel - 50 - (named ? labelWidth + 20 : 60));
        var chart = new Chart(panel, area, (-0.5, Math.Max(classes, 1) - 0.5), (0, Math.Max(1, counts.DefaultIfEmpty(0).Max() * 1.1)));
        chart.Axes("Instances per class", named ? "" : "classes", "instances", numberedX: !named);
        for (var c = 0; c < classes; c++)
        {
            var (topLeft, bottomRight) = (chart.At(c - 0.4, counts[c]), chart.At(c + 0.4, 0));
            Cv2.Rectangle(panel, new Rect(topLeft.X, topLeft.Y, bottomRight.X - topLeft.X, bottomRight.Y - topLeft.Y), Palette.Of(c), -1);
            if (named)
            {
                var size = Cv2.GetTextSize(labels[c], Chart.Font, Chart.TickScale, 1, out _);
                var middle = chart.At(c, 0).X;
                Chart.VerticalText(panel, labels[c], new Point(middle, area.Bottom + 8 + (size.Width / 2)), Chart.TickScale, Palette.Ink);
                Chart.CentredText(panel, counts[c].ToString(CultureInfo.InvariantCulture), new Point(middle, topLeft.Y - 16), Chart.TickScale, Palette.Ink);
            }
        }

        chart.Frame();
    }

    /// <summary>Each box's outline about the panel's centre, its size a fraction of the frame: how big and how elongated they are.</summary>
    private static void DrawShapes(Mat panel, IEnumerable<LabeledBox> boxes)
    {
        var frame = new Rect(50, 50, LabelPanel - 100, LabelPanel - 100);
        var centre = new Point2d(frame.X + (frame.Width / 2.0), frame.Y + (frame.Height / 2.0));
        foreach (var (classId, box) in boxes)
        {
            var (halfWidth, halfHeight) = (box.Width * frame.Width / 2.0, box.Height * frame.Height / 2.0);
            Cv2.Rectangle(panel, new Point(centre.X - halfWidth, centre.Y - halfHeight), new Point(centre.X + halfWidth, centre.Y + halfHeight), Palette.Of(classId), 1, LineTypes.AntiAlias);
        }

        Cv2.Rectangle(panel, frame, Palette.Ink, 1);
        Chart.CentredText(panel, "Box shapes (first 500, one centre)", new Point(frame.X + (frame.Width / 2), 20), Chart.TitleScale, Palette.Ink);
    }

    /// <summary>
    /// A 50 x 50 histogram over [0, 1]²: cells coloured by count, saturating where the fuller cells hold the top tenth of all
    /// boxes (seaborn's pmax = 0.9), so that a few crowded cells do not wash out the rest.
    /// </summary>
    private static void DrawHistogram(Mat panel, string title, string xLabel, string yLabel, IEnumerable<(double X, double Y)> points)
    {
        const int bins = 50;
        var counts = new int[bins, bins];
        foreach (var (x, y) in points)
        {
            counts[Math.Clamp((int)(x * bins), 0, bins - 1), Math.Clamp((int)(y * bins), 0, bins - 1)]++;
        }

        var filled = counts.Cast<int>().Where(c => c > 0).Order().ToArray();
        var (total, saturation, cumulative) = (filled.Sum(), 1, 0);
        foreach (var count in filled.TakeWhile(_ => cumulative < 0.9 * total))
        {
            (saturation, cumulative) = (count, cumulative + count);
        }

        var chart = new Chart(panel, new Rect(80, 50, LabelPanel - 110, LabelPanel - 120), (0, 1), (0, 1));
        chart.Axes(title, xLabel, yLabel);
        for (var i = 0; i < bins; i++)
        {
            for (var j = 0; j < bins; j++)
            {
                if (counts[i, j] > 0)
                {
                    var (topLeft, bottomRight) = (chart.At((double)i / bins, (double)(j + 1) / bins), chart.At((double)(i + 1) / bins, (double)j / bins));
                    var shade = Palette.Blues(0.2 + (0.8 * Math.Min(1.0, (double)counts[i, j] / saturation)));
                    Cv2.Rectangle(panel, new Rect(topLeft.X, topLeft.Y, bottomRight.X - topLeft.X, bottomRight.Y - topLeft.Y), shade, -1);
                }
            }
        }

        chart.Frame();
    }
}

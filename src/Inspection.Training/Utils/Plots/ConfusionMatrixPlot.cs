using System.Globalization;
using OpenCvSharp;

namespace Inspection.Training.Utils;

public static partial class Plotting
{
    /// <summary>
    /// The confusion matrix as a heat map (ConfusionMatrix.plot): predicted classes down, true classes across, background
    /// last. Counts for confusion_matrix.png; with <paramref name="normalize"/>, each true class's column divided by its
    /// total, for confusion_matrix_normalized.png. Ultralytics writes both.
    /// </summary>
    public static void PlotConfusionMatrix(ConfusionMatrix matrix, IReadOnlyList<string> names, string png, bool normalize = false)
    {
        var cells = ConfusionMatrixCells(matrix, normalize);
        var n = matrix.Classes + 1;
        var labels = Enumerable.Range(0, n).Select(i => i == matrix.Classes ? "background" : Shortened(ClassName(names, i), 20)).ToArray();
        var labelWidth = labels.Max(l => Cv2.GetTextSize(l, Chart.Font, Chart.TickScale, 1, out _).Width);
        var cell = Math.Clamp(640 / n, 12, 80);
        var (left, top) = (labelWidth + 50, 60);
        var side = n * cell;
        using var canvas = new Mat(top + side + labelWidth + 60, left + side + 120, MatType.CV_8UC3, Palette.White);
        var largest = cells.Cast<double>().Where(double.IsFinite).DefaultIfEmpty(0).Max();
        var scale = largest > 0 ? largest : 1;
        var annotated = n < 30; // as Ultralytics: numbers only while they fit
        for (var p = 0; p < n; p++)
        {
            for (var t = 0; t < n; t++)
            {
                var value = cells[p, t];
                if (!double.IsFinite(value))
                {
                    continue;
                }

                var square = new Rect(left + (t * cell), top + (p * cell), cell, cell);
                Cv2.Rectangle(canvas, square, Palette.Blues(value / scale), -1);
                if (annotated)
                {
                    var text = value.ToString(normalize ? "0.00" : "0", CultureInfo.InvariantCulture);
                    var textScale = Math.Min(0.5, cell / 90.0);
                    var size = Cv2.GetTextSize(text, Chart.Font, textScale, 1, out _);
                    Chart.Text(canvas, text, new Point(square.X + ((cell - size.Width) / 2), square.Y + ((cell + size.Height) / 2)), textScale, value / scale > 0.5 ? Palette.White : Palette.Ink);
                }
            }
        }

        Cv2.Rectangle(canvas, new Rect(left, top, side, side), Palette.Ink, 1);
        for (var i = 0; i < n; i++)
        {
            var size = Cv2.GetTextSize(labels[i], Chart.Font, Chart.TickScale, 1, out _);
            var middle = (i * cell) + (cell / 2);
            Chart.Text(canvas, labels[i], new Point(left - 8 - size.Width, top + middle + (size.Height / 2)), Chart.TickScale, Palette.Ink);
            Chart.VerticalText(canvas, labels[i], new Point(left + middle, top + side + 8 + (size.Width / 2)), Chart.TickScale, Palette.Ink);
        }

        var title = normalize ? "Confusion Matrix Normalized" : "Confusion Matrix";
        Chart.CentredText(canvas, title, new Point(left + (side / 2), 20), Chart.TitleScale, Palette.Ink);
        Chart.CentredText(canvas, "True", new Point(left + (side / 2), top + side + labelWidth + 24), Chart.LabelScale, Palette.Ink);
        Chart.VerticalText(canvas, "Predicted", new Point(18, top + (side / 2)), Chart.LabelScale, Palette.Ink);
        DrawColourBar(canvas, new Rect(left + side + 20, top, 18, side), scale);
        Cv2.ImWrite(png, canvas);
    }

    /// <summary>The values the heat map shows: counts, or shares of each true class (column); below 0.005 left blank (NaN), as Ultralytics.</summary>
    internal static double[,] ConfusionMatrixCells(ConfusionMatrix matrix, bool normalize)
    {
        var n = matrix.Classes + 1;
        var cells = new double[n, n];
        for (var t = 0; t < n; t++)
        {
            var total = Enumerable.Range(0, n).Sum(p => matrix.Counts[p, t]);
            for (var p = 0; p < n; p++)
            {
                var value = normalize ? matrix.Counts[p, t] / (total + 1e-9) : matrix.Counts[p, t];
                cells[p, t] = value < 0.005 ? double.NaN : value;
            }
        }

        return cells;
    }

    /// <summary>The colour scale beside a heat map, 0 at the bottom to <paramref name="top"/>, with ticks.</summary>
    private static void DrawColourBar(Mat canvas, Rect bar, double top)
    {
        for (var row = 0; row < bar.Height; row++)
        {
            Cv2.Line(canvas, new Point(bar.X, bar.Bottom - 1 - row), new Point(bar.Right - 1, bar.Bottom - 1 - row), Palette.Blues((double)row / (bar.Height - 1)), 1);
        }

        Cv2.Rectangle(canvas, bar, Palette.Ink, 1);
        foreach (var value in Chart.Ticks(0, top))
        {
            var y = bar.Bottom - (int)Math.Round(value / top * bar.Height);
            Cv2.Line(canvas, new Point(bar.Right, y), new Point(bar.Right + 4, y), Palette.Ink, 1);
            Chart.Text(canvas, Chart.TickLabel(value, top), new Point(bar.Right + 7, y + 5), Chart.TickScale, Palette.Ink);
        }
    }
}

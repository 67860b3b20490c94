using System.Globalization;
using OpenCvSharp;

namespace Inspection.Training.Utils;

/// <summary>
/// A plot area on a canvas (matplotlib's axes, drawn with OpenCV): data coordinates to pixels, a frame with ticks,
/// tick labels, axis labels and a title, anti-aliased lines, and a legend to the right of the area.
/// </summary>
internal sealed class Chart(Mat canvas, Rect area, (double Min, double Max) x, (double Min, double Max) y)
{
    public const HersheyFonts Font = HersheyFonts.HersheySimplex;
    public const double TitleScale = 0.65, LabelScale = 0.55, TickScale = 0.45;

    public Point At(double xValue, double yValue) => new(
        area.X + (int)Math.Round((xValue - x.Min) / (x.Max - x.Min) * area.Width),
        area.Bottom - (int)Math.Round((yValue - y.Min) / (y.Max - y.Min) * area.Height));

    /// <summary>Frame, faint grid and numbered ticks (x ticks only when <paramref name="numberedX"/>), labels and title.</summary>
    public void Axes(string title, string xLabel, string yLabel, bool numberedX = true)
    {
        var tickLabelWidth = 0;
        foreach (var value in Ticks(y.Min, y.Max))
        {
            var at = At(x.Min, value);
            Cv2.Line(canvas, at, new Point(area.Right, at.Y), Palette.Faint, 1);
            Cv2.Line(canvas, at, new Point(area.X - 5, at.Y), Palette.Ink, 1);
            var text = TickLabel(value, y.Max - y.Min);
            var size = Cv2.GetTextSize(text, Font, TickScale, 1, out _);
            Text(canvas, text, new Point(area.X - 8 - size.Width, at.Y + (size.Height / 2)), TickScale, Palette.Ink);
            tickLabelWidth = Math.Max(tickLabelWidth, size.Width);
        }

        var tickLabelHeight = 0;
        if (numberedX)
        {
            foreach (var value in Ticks(x.Min, x.Max))
            {
                var at = At(value, y.Min);
                Cv2.Line(canvas, new Point(at.X, area.Y), at, Palette.Faint, 1);
                Cv2.Line(canvas, at, new Point(at.X, area.Bottom + 5), Palette.Ink, 1);
                tickLabelHeight = CentredText(canvas, TickLabel(value, x.Max - x.Min), new Point(at.X, area.Bottom + 10), TickScale, Palette.Ink).Height + 10;
            }
        }

        Frame();
        CentredText(canvas, title, new Point(area.X + (area.Width / 2), area.Y - 30), TitleScale, Palette.Ink);
        if (xLabel.Length > 0)
        {
            CentredText(canvas, xLabel, new Point(area.X + (area.Width / 2), area.Bottom + 14 + tickLabelHeight), LabelScale, Palette.Ink);
        }

        VerticalText(canvas, yLabel, new Point(Math.Max(10, area.X - tickLabelWidth - 22), area.Y + (area.Height / 2)), LabelScale, Palette.Ink);
    }

    /// <summary>The area's outline: again after filling the area, which covers it.</summary>
    public void Frame() => Cv2.Rectangle(canvas, area, Palette.Ink, 1);

    /// <summary>A polyline through the points, clipped to the plot area.</summary>
    public void Line(IReadOnlyList<double> xs, IReadOnlyList<double> ys, Scalar colour, int thickness)
    {
        using var inside = new Mat(canvas, new Rect(area.X, area.Y, area.Width + 1, area.Height + 1));
        var points = xs.Select((value, i) => At(value, ys[i]) - area.TopLeft).ToArray();
        Cv2.Polylines(inside, new[] { points }, isClosed: false, colour, thickness, LineTypes.AntiAlias);
    }

    /// <summary>A legend beside the area's top right: a line sample of each entry's colour and thickness, and its text.</summary>
    public void Legend(IEnumerable<(string Text, Scalar Colour, int Thickness)> entries)
    {
        var top = area.Y + 12;
        foreach (var (text, colour, thickness) in entries)
        {
            Cv2.Line(canvas, new Point(area.Right + 15, top - 4), new Point(area.Right + 40, top - 4), colour, thickness, LineTypes.AntiAlias);
            Text(canvas, text, new Point(area.Right + 48, top), TickScale, Palette.Ink);
            top += 20;
        }
    }

    /// <summary>Round tick values (1, 2 or 5 times a power of ten apart) covering [min, max] with about five steps.</summary>
    public static IEnumerable<double> Ticks(double min, double max)
    {
        var step = Step(max - min);
        for (var value = Math.Ceiling((min / step) - 1e-9) * step; value <= max + (step * 1e-9); value += step)
        {
            yield return (Math.Round(value / step) * step) + 0.0; // + 0.0 turns -0 into 0
        }
    }

    public static void Text(Mat canvas, string text, Point origin, double scale, Scalar colour, int thickness = 1) =>
        Cv2.PutText(canvas, text, origin, Font, scale, colour, thickness, LineTypes.AntiAlias);

    /// <summary>Text centred horizontally on <paramref name="top"/>.X, its top at <paramref name="top"/>.Y; returns its size.</summary>
    public static Size CentredText(Mat canvas, string text, Point top, double scale, Scalar colour)
    {
        var size = Cv2.GetTextSize(text, Font, scale, 1, out _);
        Text(canvas, text, new Point(top.X - (size.Width / 2), top.Y + size.Height), scale, colour);
        return size;
    }

    /// <summary>Text reading upwards, centred on <paramref name="centre"/>: drawn level on the canvas turned a quarter clockwise.</summary>
    public static void VerticalText(Mat canvas, string text, Point centre, double scale, Scalar colour)
    {
        using var turned = new Mat();
        Cv2.Rotate(canvas, turned, RotateFlags.Rotate90Clockwise);
        var size = Cv2.GetTextSize(text, Font, scale, 1, out _);
        Text(turned, text, new Point(canvas.Height - 1 - centre.Y - (size.Width / 2), centre.X + (size.Height / 2)), scale, colour);
        Cv2.Rotate(turned, canvas, RotateFlags.Rotate90Counterclockwise);
    }

    /// <summary>A tick value with as many decimals as the ticks' spacing over <paramref name="range"/> needs.</summary>
    public static string TickLabel(double value, double range)
    {
        var decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(Step(range)) + 1e-9));
        return value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static double Step(double range)
    {
        var rough = range / 5;
        var power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        return new[] { 1.0, 2.0, 5.0, 10.0 }.Select(m => m * power).First(s => s >= rough * 0.99);
    }
}

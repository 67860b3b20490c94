using OpenCvSharp;

namespace Inspection.Training.Utils;

/// <summary>
/// The colours of a run's pictures, in OpenCV's BGR order: one per class, the same in every picture (matplotlib's
/// twenty Tableau colours, the ten strong ones first), and the few neutral ones the charts share.
/// </summary>
internal static class Palette
{
    private static readonly Scalar[] Classes = new[]
    {
        0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD, 0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF,
        0xAEC7E8, 0xFFBB78, 0x98DF8A, 0xFF9896, 0xC5B0D5, 0xC49C94, 0xF7B6D2, 0xC7C7C7, 0xDBDB8D, 0x9EDAE5,
    }.Select(rgb => new Scalar(rgb & 0xFF, (rgb >> 8) & 0xFF, rgb >> 16)).ToArray();

    public static readonly Scalar Ink = Scalar.All(40);

    public static readonly Scalar Faint = Scalar.All(230);

    public static readonly Scalar White = Scalar.All(255);

    /// <summary>The all-classes curve, thick and blue as in Ultralytics' charts.</summary>
    public static readonly Scalar AllClasses = new(255, 0, 0);

    /// <summary>Per-class curves when there are too many classes to tell apart.</summary>
    public static readonly Scalar ManyClasses = Scalar.All(160);

    /// <summary>matplotlib's "Blues" (ColorBrewer), light to dark, as RGB stops evenly spaced over 0-1: the heat maps' scale.</summary>
    private static readonly (double R, double G, double B)[] BlueStops =
    [
        (247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214), (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107),
    ];

    public static Scalar Of(int classId) => Classes[classId % Classes.Length];

    /// <summary>The heat maps' colour at a fraction 0-1 of their scale.</summary>
    public static Scalar Blues(double fraction)
    {
        var at = Math.Clamp(fraction, 0, 1) * (BlueStops.Length - 1);
        var (low, high) = (BlueStops[(int)Math.Floor(at)], BlueStops[(int)Math.Ceiling(at)]);
        var w = at - Math.Floor(at);
        return new Scalar(low.B + (w * (high.B - low.B)), low.G + (w * (high.G - low.G)), low.R + (w * (high.R - low.R)));
    }

    /// <summary>Black or white, whichever reads better on the colour.</summary>
    public static Scalar TextOn(Scalar background) =>
        (0.114 * background.Val0) + (0.587 * background.Val1) + (0.299 * background.Val2) > 150 ? Scalar.All(0) : White;
}

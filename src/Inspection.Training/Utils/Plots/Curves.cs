using OpenCvSharp;

namespace Inspection.Training.Utils;

public static partial class Plotting
{
    /// <summary>Beyond this many classes the per-class curves are grey and unnamed, as in Ultralytics.</summary>
    private const int MostNamedCurves = 20;

    /// <summary>PR_curve.png: precision against recall at IoU 0.5, per class with its AP50, and their mean with mAP50 (plot_pr_curve).</summary>
    public static void PlotPrCurve(DetectionScores scores, IReadOnlyList<string> names, string png)
    {
        var recall = Enumerable.Range(0, 101).Select(i => i / 100.0).ToArray();
        (double[], string)? allClasses = scores.PrecisionAtRecall.Count == 0 ? null
            : (recall.Select((_, i) => scores.PrecisionAtRecall.Values.Average(c => c[i])).ToArray(), $"all classes {scores.MAP50:0.000} mAP@0.5");
        DrawCurves(png, "Precision-Recall Curve", "Recall", "Precision", recall, scores.PrecisionAtRecall, names, c => $"{ClassName(names, c)} {scores.PerClass[c].AP50:0.000}", allClasses);
    }

    /// <summary>
    /// A metric against confidence (plot_mc_curve): F1_curve.png, P_curve.png and R_curve.png from <see cref="DetectionScores.F1AtConfidence"/>,
    /// <see cref="DetectionScores.PrecisionAtConfidence"/> and <see cref="DetectionScores.RecallAtConfidence"/>. The all-classes curve is
    /// the classes' mean smoothed as for choosing the operating point, and its legend names its peak and where it is: on the F1 curve,
    /// the confidence at which the run's precision and recall are read.
    /// </summary>
    /// <param name="metric">The y axis and title: "F1", "Precision" or "Recall".</param>
    public static void PlotMcCurve(IReadOnlyDictionary<int, double[]> curves, IReadOnlyList<string> names, string png, string metric)
    {
        (double[], string)? allClasses = null;
        if (curves.Count > 0)
        {
            var (mean, peak) = DetMetrics.AllClasses([.. curves.Values]);
            allClasses = (mean, $"all classes {mean[peak]:0.00} at {DetMetrics.ConfidenceGrid[peak]:0.000}");
        }

        DrawCurves(png, $"{metric}-Confidence Curve", "Confidence", metric, DetMetrics.ConfidenceGrid, curves, names, c => ClassName(names, c), allClasses);
    }

    private static void DrawCurves(
        string png, string title, string xLabel, string yLabel, double[] x, IReadOnlyDictionary<int, double[]> curves, IReadOnlyList<string> names,
        Func<int, string> classLabel, (double[] Y, string Label)? allClasses)
    {
        using var canvas = new Mat(600, 1000, MatType.CV_8UC3, Palette.White);
        var chart = new Chart(canvas, new Rect(80, 50, 600, 480), (0, 1), (0, 1));
        chart.Axes(title, xLabel, yLabel);
        var legend = new List<(string, Scalar, int)>();
        var named = curves.Count <= MostNamedCurves;
        foreach (var (classId, y) in curves)
        {
            var colour = named ? Palette.Of(classId) : Palette.ManyClasses;
            chart.Line(x, y, colour, 2);
            if (named)
            {
                legend.Add((Shortened(classLabel(classId), 30), colour, 2));
            }
        }

        if (allClasses is var (mean, label))
        {
            chart.Line(x, mean, Palette.AllClasses, 4);
            legend.Add((label, Palette.AllClasses, 4));
        }

        chart.Legend(legend);
        Cv2.ImWrite(png, canvas);
    }

    private static string ClassName(IReadOnlyList<string> names, int classId) =>
        classId < names.Count ? names[classId] : classId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Shortened(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "~";
}

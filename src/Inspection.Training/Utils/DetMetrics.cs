using Inspection.Core;

namespace Inspection.Training.Utils;

/// <summary>One image's predictions and ground truth, in the same pixel space.</summary>
public sealed record ImageEvaluation(IReadOnlyList<Detection> Predictions, IReadOnlyList<(int ClassId, BoundingBox Box)> Labels);

/// <summary>The figures a detector is judged by (Ultralytics' DetMetrics).</summary>
public sealed record DetectionScores(double Precision, double Recall, double MAP50, double MAP50To95, IReadOnlyDictionary<int, (double AP50, double AP50To95)> PerClass)
{
    /// <summary>What was taken for what, at confidence 0.25 and IoU 0.45, when the evaluation kept one.</summary>
    public ConfusionMatrix? Confusion { get; init; }

    /// <summary>Per class, the precision envelope at IoU 0.5 sampled at recall 0, 0.01 .. 1: the PR curve.</summary>
    public IReadOnlyDictionary<int, double[]> PrecisionAtRecall { get; init; } = new Dictionary<int, double[]>();

    /// <summary>The mean validation loss per batch (val/box_loss ... in results.csv), when the evaluation computed it.</summary>
    public LossItems? Loss { get; init; }

    /// <summary>Per class, precision at IoU 0.5 of the predictions at or above each confidence of <see cref="DetMetrics.ConfidenceGrid"/>: the P curve.</summary>
    public IReadOnlyDictionary<int, double[]> PrecisionAtConfidence { get; init; } = new Dictionary<int, double[]>();

    /// <summary>Per class, recall at IoU 0.5 at each confidence of <see cref="DetMetrics.ConfidenceGrid"/>: the R curve.</summary>
    public IReadOnlyDictionary<int, double[]> RecallAtConfidence { get; init; } = new Dictionary<int, double[]>();

    /// <summary>Per class, F1 of <see cref="PrecisionAtConfidence"/> and <see cref="RecallAtConfidence"/>: the F1 curve, whose all-classes peak sets the confidence <see cref="Precision"/> and <see cref="Recall"/> are read at.</summary>
    public IReadOnlyDictionary<int, double[]> F1AtConfidence { get; init; } = new Dictionary<int, double[]>();

    /// <summary>Ultralytics' fitness: 0.1 mAP50 + 0.9 mAP50-95, by which the best checkpoint is chosen.</summary>
    public double Fitness => (0.1 * MAP50) + (0.9 * MAP50To95);
}

/// <summary>
/// mAP@0.5 and mAP@0.5:0.95 as Ultralytics' utils/metrics.py computes them: predictions matched to labels
/// per IoU threshold, precision-recall per class, AP by COCO's 101-point interpolation of the precision
/// envelope, precision and recall at the confidence of best mean F1.
/// </summary>
public static class DetMetrics
{
    public static readonly double[] IoUThresholds = Enumerable.Range(0, 10).Select(i => 0.5 + (0.05 * i)).ToArray();

    /// <summary>The confidences 0 .. 1 (1000 points, numpy's linspace) at which the P, R and F1 curves are sampled.</summary>
    public static readonly double[] ConfidenceGrid = Enumerable.Range(0, 1000).Select(i => i / 999.0).ToArray();

    public static DetectionScores Evaluate(IEnumerable<ImageEvaluation> images)
    {
        var correct = new List<bool[]>();
        var confidences = new List<double>();
        var predictedClasses = new List<int>();
        var labelClasses = new List<int>();
        foreach (var image in images)
        {
            labelClasses.AddRange(image.Labels.Select(l => l.ClassId));
            var matches = MatchPredictions(image.Predictions, image.Labels);
            for (var i = 0; i < image.Predictions.Count; i++)
            {
                correct.Add(matches[i]);
                confidences.Add(image.Predictions[i].Score);
                predictedClasses.Add(image.Predictions[i].ClassId);
            }
        }

        return ApPerClass(correct, confidences, predictedClasses, labelClasses);
    }

    /// <summary>
    /// For each prediction and IoU threshold, whether it matches a label of its class (match_predictions): each
    /// prediction keeps its best-IoU label above the threshold; a label claimed by several predictions goes to
    /// the first of them (predictions come most confident first), so each label counts at most once.
    /// </summary>
    public static bool[][] MatchPredictions(IReadOnlyList<Detection> predictions, IReadOnlyList<(int ClassId, BoundingBox Box)> labels)
    {
        var correct = predictions.Select(_ => new bool[IoUThresholds.Length]).ToArray();
        var iou = new double[labels.Count, predictions.Count];
        for (var l = 0; l < labels.Count; l++)
        {
            for (var p = 0; p < predictions.Count; p++)
            {
                iou[l, p] = predictions[p].ClassId == labels[l].ClassId ? labels[l].Box.IoU(predictions[p].Box) : 0;
            }
        }

        for (var t = 0; t < IoUThresholds.Length; t++)
        {
            var bestLabelOf = new Dictionary<int, (int Label, double IoU)>();
            for (var l = 0; l < labels.Count; l++)
            {
                for (var p = 0; p < predictions.Count; p++)
                {
                    if (iou[l, p] >= IoUThresholds[t] && (!bestLabelOf.TryGetValue(p, out var best) || iou[l, p] > best.IoU))
                    {
                        bestLabelOf[p] = (l, iou[l, p]);
                    }
                }
            }

            var claimed = new HashSet<int>();
            foreach (var (prediction, (label, _)) in bestLabelOf.OrderBy(kv => kv.Key))
            {
                if (claimed.Add(label))
                {
                    correct[prediction][t] = true;
                }
            }
        }

        return correct;
    }

    /// <summary>Average precision per class from every prediction's correctness, confidence and class (ap_per_class).</summary>
    public static DetectionScores ApPerClass(IReadOnlyList<bool[]> correct, IReadOnlyList<double> confidences, IReadOnlyList<int> predictedClasses, IReadOnlyList<int> labelClasses)
    {
        const double eps = 1e-16;
        var order = Enumerable.Range(0, confidences.Count).OrderByDescending(i => confidences[i]).ToArray();
        var classes = labelClasses.Distinct().Order().ToArray();
        var perClass = new Dictionary<int, (double, double)>();
        var precisionAtConfidence = new Dictionary<int, double[]>();
        var recallAtConfidence = new Dictionary<int, double[]>();
        var curves = new Dictionary<int, double[]>();
        foreach (var c in classes)
        {
            var indices = order.Where(i => predictedClasses[i] == c).ToArray();
            var labelsOfClass = labelClasses.Count(l => l == c);
            if (indices.Length == 0)
            {
                perClass[c] = (0, 0);
                curves[c] = new double[101];
                precisionAtConfidence[c] = new double[ConfidenceGrid.Length];
                recallAtConfidence[c] = new double[ConfidenceGrid.Length];
                continue;
            }

            var ap = new double[IoUThresholds.Length];
            double[] recallAt50 = [], precisionAt50 = [];
            for (var t = 0; t < IoUThresholds.Length; t++)
            {
                double tp = 0, fp = 0;
                var recall = new double[indices.Length];
                var precision = new double[indices.Length];
                for (var k = 0; k < indices.Length; k++)
                {
                    if (correct[indices[k]][t])
                    {
                        tp++;
                    }
                    else
                    {
                        fp++;
                    }

                    recall[k] = tp / (labelsOfClass + eps);
                    precision[k] = tp / (tp + fp);
                }

                ap[t] = ComputeAp(recall, precision, out var curve);
                if (t == 0)
                {
                    (recallAt50, precisionAt50) = (recall, precision);
                    curves[c] = curve;
                }
            }

            // Precision and recall as functions of confidence, on a common grid, for the best-F1 operating point.
            var negatedConfidence = indices.Select(i => -confidences[i]).ToArray();
            recallAtConfidence[c] = ConfidenceGrid.Select(x => Interpolate(-x, negatedConfidence, recallAt50, left: 0)).ToArray();
            precisionAtConfidence[c] = ConfidenceGrid.Select(x => Interpolate(-x, negatedConfidence, precisionAt50, left: 1)).ToArray();
            perClass[c] = (ap[0], ap.Average());
        }

        if (classes.Length == 0)
        {
            return new DetectionScores(0, 0, 0, 0, perClass);
        }

        var f1AtConfidence = classes.ToDictionary(c => c, c => precisionAtConfidence[c].Zip(recallAtConfidence[c], (p, r) => 2 * p * r / (p + r + eps)).ToArray());
        var best = AllClasses(f1AtConfidence.Values).Peak;
        return new DetectionScores(
            precisionAtConfidence.Values.Average(p => p[best]),
            recallAtConfidence.Values.Average(r => r[best]),
            perClass.Values.Average(v => v.Item1),
            perClass.Values.Average(v => v.Item2),
            perClass)
        {
            PrecisionAtRecall = curves,
            PrecisionAtConfidence = precisionAtConfidence,
            RecallAtConfidence = recallAtConfidence,
            F1AtConfidence = f1AtConfidence,
        };
    }

    /// <summary>
    /// The all-classes curve over <see cref="ConfidenceGrid"/>: the classes' mean smoothed over a tenth of its length, as
    /// ap_per_class smooths F1 before taking its peak, and the index of that peak (the first, if several).
    /// </summary>
    internal static (double[] Curve, int Peak) AllClasses(IReadOnlyCollection<double[]> curves)
    {
        var mean = Smooth(Enumerable.Range(0, ConfidenceGrid.Length).Select(g => curves.Average(c => c[g])).ToArray(), 0.1);
        return (mean, Array.IndexOf(mean, mean.Max()));
    }

    /// <summary>AP of one precision-recall curve: the precision envelope sampled at 101 recall points, integrated by trapezoids (compute_ap).</summary>
    public static double ComputeAp(IReadOnlyList<double> recall, IReadOnlyList<double> precision) => ComputeAp(recall, precision, out _);

    /// <inheritdoc cref="ComputeAp(IReadOnlyList{double}, IReadOnlyList{double})"/>
    /// <param name="curve">The envelope at the 101 recall points, for the PR curve.</param>
    public static double ComputeAp(IReadOnlyList<double> recall, IReadOnlyList<double> precision, out double[] curve)
    {
        var mrec = new List<double> { 0.0 };
        mrec.AddRange(recall);
        mrec.Add(1.0);
        var mpre = new List<double> { 1.0 };
        mpre.AddRange(precision);
        mpre.Add(0.0);
        for (var i = mpre.Count - 2; i >= 0; i--)
        {
            mpre[i] = Math.Max(mpre[i], mpre[i + 1]); // envelope: precision never rises with recall
        }

        var x = Enumerable.Range(0, 101).Select(i => i / 100.0).ToArray();
        var (recallPoints, precisionPoints) = (mrec.ToArray(), mpre.ToArray());
        var y = x.Select(v => Interpolate(v, recallPoints, precisionPoints)).ToArray();
        curve = y;
        var area = 0.0;
        for (var i = 1; i < x.Length; i++)
        {
            area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
        }

        return area;
    }

    /// <summary>Linear interpolation with numpy.interp's rules, repeated x values included: the last xp[j] &lt;= x wins.</summary>
    internal static double Interpolate(double x, double[] xp, double[] fp, double? left = null, double? right = null)
    {
        if (x < xp[0])
        {
            return left ?? fp[0];
        }

        if (x > xp[^1])
        {
            return right ?? fp[^1];
        }

        if (x == xp[^1])
        {
            return fp[^1];
        }

        // xp rises (recall, negated confidence): binary search for the last xp[j] <= x, as numpy does.
        var (low, high) = (0, xp.Length - 1);
        while (low < high)
        {
            var middle = (low + high + 1) / 2;
            (low, high) = xp[middle] <= x ? (middle, high) : (low, middle - 1);
        }

        var j = low;

        var slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
        return double.IsFinite(slope) ? fp[j] + (slope * (x - xp[j])) : fp[j];
    }

    /// <summary>Box-filter smoothing of a curve over a fraction of its length (smooth in metrics.py).</summary>
    private static double[] Smooth(double[] y, double fraction)
    {
        var width = ((int)Math.Round(y.Length * fraction * 2) / 2) + 1; // smooth's nf: 101 points for 0.1 of 1,000
        var half = width / 2;
        var padded = Enumerable.Repeat(y[0], half).Concat(y).Concat(Enumerable.Repeat(y[^1], half)).ToArray();
        return Enumerable.Range(0, y.Length).Select(i => padded.Skip(i).Take(width).Average()).ToArray();
    }
}

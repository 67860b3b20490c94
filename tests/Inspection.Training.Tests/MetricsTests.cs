using Inspection.Core;
using Inspection.Training.Utils;

namespace Inspection.Training.Tests;

/// <summary>The evaluator against cases worked out by hand.</summary>
public sealed class MetricsTests
{
    private static readonly BoundingBox A = new(0, 0, 10, 10);
    private static readonly BoundingBox B = new(20, 20, 40, 40);

    private static ImageEvaluation Image((int Class, float Score, BoundingBox Box)[] predictions, (int, BoundingBox)[] labels) =>
        new(predictions.OrderByDescending(p => p.Score).Select(p => new Detection(p.Class, p.Score, p.Box)).ToList(), labels);

    // As in Ultralytics, a perfect curve scores 0.995, not 1: the envelope drops to 0 at recall 1, and the
    // last of the 101 trapezoids, between recall 0.99 and 1, is half lost.
    private const double Perfect = 0.995;

    [Fact]
    public void Perfect_predictions_score_the_maximum()
    {
        var scores = DetMetrics.Evaluate([Image([(0, 0.9f, A), (1, 0.8f, B)], [(0, A), (1, B)])]);
        Assert.Equal(Perfect, scores.MAP50, 6);
        Assert.Equal(Perfect, scores.MAP50To95, 6);
        Assert.Equal(1, scores.Precision, 3);
        Assert.Equal(1, scores.Recall, 3);
        Assert.All(scores.PrecisionAtRecall[0][..100], p => Assert.Equal(1, p)); // the PR curve: 1 up to recall 0.99
        Assert.Equal(0, scores.PrecisionAtRecall[0][100]);
    }

    [Fact]
    public void No_predictions_score_zero()
    {
        var scores = DetMetrics.Evaluate([Image([], [(0, A)])]);
        Assert.Equal((0.0, 0.0), (scores.MAP50, scores.MAP50To95));
    }

    [Fact]
    public void A_false_positive_above_the_true_one_halves_the_precision()
    {
        // Sorted by confidence: a miss (0.9), then the hit (0.8). Recall [0, 1], precision [0, 0.5]; the envelope is
        // 0.5 up to recall 1 and the 101 points integrate to 0.01 x (99 x 0.5 + (0.5 + 0) / 2) = 0.4975.
        var scores = DetMetrics.Evaluate([Image([(0, 0.9f, B), (0, 0.8f, A)], [(0, A)])]);
        Assert.Equal(0.4975, scores.MAP50, 6);
    }

    [Fact]
    public void A_duplicate_counts_once_and_then_as_a_false_positive()
    {
        // Two predictions on one label: the more confident matches, the other is a false positive after it, so
        // precision stays 1 up to recall 1: a perfect AP.
        var scores = DetMetrics.Evaluate([Image([(0, 0.9f, A), (0, 0.7f, new BoundingBox(0, 0, 10, 9))], [(0, A)])]);
        Assert.Equal(Perfect, scores.MAP50, 6);
        var matches = DetMetrics.MatchPredictions([new Detection(0, 0.9f, A), new Detection(0, 0.7f, A)], [(0, A)]);
        Assert.True(matches[0][0]);
        Assert.False(matches[1][0]);
    }

    [Fact]
    public void A_missed_class_scores_zero_and_pulls_the_mean_down()
    {
        // Class 0 found perfectly, class 1 never predicted: mAP is the mean over the labelled classes.
        var scores = DetMetrics.Evaluate([Image([(0, 0.9f, A)], [(0, A), (1, B)])]);
        Assert.Equal(Perfect, scores.PerClass[0].AP50, 6);
        Assert.Equal(0, scores.PerClass[1].AP50, 6);
        Assert.Equal(Perfect / 2, scores.MAP50, 6);
    }

    [Fact]
    public void Loose_boxes_count_at_low_IoU_thresholds_only()
    {
        // IoU 0.64 (a 10x6.4 box inside the 10x10 label): a hit at 0.5, 0.55 and 0.6, a miss from 0.65 on.
        var loose = new BoundingBox(0, 0, 10, 6.4f);
        var scores = DetMetrics.Evaluate([Image([(0, 0.9f, loose)], [(0, A)])]);
        Assert.Equal(Perfect, scores.MAP50, 6);
        Assert.Equal(0.3 * Perfect, scores.MAP50To95, 6);
    }

    [Fact]
    public void Precision_and_recall_over_confidence_follow_the_ranked_predictions()
    {
        // Two labels; by confidence a hit (0.9), a false alarm (0.6), a hit (0.3): recall 0.5, 0.5, 1 and precision
        // 1, 0.5, 2/3 as each is admitted, interpolated between their confidences.
        var far = new BoundingBox(50, 50, 60, 60);
        var scores = DetMetrics.Evaluate([Image([(0, 0.9f, A), (0, 0.6f, far), (0, 0.3f, B)], [(0, A), (0, B)])]);
        var (precision, recall, f1) = (scores.PrecisionAtConfidence[0], scores.RecallAtConfidence[0], scores.F1AtConfidence[0]);
        Assert.All(new[] { precision, recall, f1 }, curve => Assert.Equal(DetMetrics.ConfidenceGrid.Length, curve.Length));
        Assert.Equal(1000, DetMetrics.ConfidenceGrid.Length);

        int At(double confidence) => (int)Math.Round(confidence * 999);
        Assert.Equal((1.0, 0.0), (precision[At(1)], recall[At(1)]));         // above every prediction: nothing found, nothing wrong
        Assert.Equal(0.5, recall[At(0.7)], 6);                                // only the 0.9 hit admitted
        Assert.Equal(2 / 3.0, precision[At(0)], 6);                           // all three admitted
        Assert.Equal(1.0, recall[At(0)], 6);
        var between = DetMetrics.ConfidenceGrid[At(0.45)];                    // halfway from 0.6 to 0.3: recall halfway from 0.5 to 1
        Assert.Equal(0.5 + (0.5 * (0.6 - between) / 0.3), recall[At(0.45)], 4);
        Assert.All(Enumerable.Range(0, 1000), i => Assert.Equal(2 * precision[i] * recall[i] / (precision[i] + recall[i] + 1e-16), f1[i], 12));
    }

    [Fact]
    public void Precision_and_recall_are_read_where_the_all_classes_F1_curve_peaks()
    {
        var far = new BoundingBox(50, 50, 60, 60);
        var scores = DetMetrics.Evaluate(
        [
            Image([(0, 0.95f, A), (0, 0.8f, far), (1, 0.7f, B), (1, 0.4f, far)], [(0, A), (1, B)]),
            Image([(0, 0.5f, B), (1, 0.2f, A), (0, 0.15f, far)], [(0, B), (1, A), (2, far)]),
        ]);

        var (allClasses, peak) = DetMetrics.AllClasses([.. scores.F1AtConfidence.Values]);
        Assert.Equal(allClasses.Max(), allClasses[peak]);
        Assert.Equal(scores.Precision, scores.PrecisionAtConfidence.Values.Average(p => p[peak]), 12);
        Assert.Equal(scores.Recall, scores.RecallAtConfidence.Values.Average(r => r[peak]), 12);
        Assert.Equal([0, 1, 2], scores.F1AtConfidence.Keys.Order());
        Assert.All(scores.F1AtConfidence[2], f => Assert.Equal(0, f)); // class 2 is never predicted
    }

    [Fact]
    public void The_confusion_matrix_counts_confusions_misses_and_false_alarms()
    {
        var matrix = new ConfusionMatrix(classes: 2);
        matrix.Add([new Detection(1, 0.9f, A)], [(0, A)]);                        // a 0 taken for a 1
        matrix.Add([], [(1, B)]);                                                  // a 1 missed
        matrix.Add([new Detection(0, 0.8f, B), new Detection(0, 0.1f, A)], []);   // a false alarm; the 0.1 is below 0.25
        matrix.Add([new Detection(0, 0.7f, A)], [(0, A)]);                        // right

        Assert.Equal(1, matrix.Counts[1, 0]);
        Assert.Equal(1, matrix.Counts[2, 1]);
        Assert.Equal(1, matrix.Counts[0, 2]);
        Assert.Equal(1, matrix.Counts[0, 0]);
        Assert.Equal(4, matrix.Counts.Cast<long>().Sum());
    }

    [Fact]
    public void Interpolation_follows_numpy_with_repeated_points()
    {
        Assert.Equal(0.5, DetMetrics.Interpolate(0, [0, 0, 1, 1], [1, 0.5, 0.5, 0]));
        Assert.Equal(0.0, DetMetrics.Interpolate(1, [0, 0, 1, 1], [1, 0.5, 0.5, 0]));
        Assert.Equal(0.25, DetMetrics.Interpolate(0.5, [0, 1], [0, 0.5]));
    }
}

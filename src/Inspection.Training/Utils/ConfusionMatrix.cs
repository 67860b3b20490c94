using Inspection.Core;

namespace Inspection.Training.Utils;

/// <summary>
/// Ultralytics' ConfusionMatrix for detection (utils/metrics.py): rows are predicted classes, columns true
/// classes, with one more row and column for background. Detections above 0.25 confidence are matched to
/// labels at IoU 0.45; an unmatched label counts as background predicted, an unmatched detection as a
/// false positive on background.
/// </summary>
public sealed class ConfusionMatrix(int classes, double confidence = 0.25, double iouThreshold = 0.45)
{
    /// <summary>[predicted, true], background last.</summary>
    public long[,] Counts { get; } = new long[classes + 1, classes + 1];

    public int Classes => classes;

    public void Add(IReadOnlyList<Detection> predictions, IReadOnlyList<(int ClassId, BoundingBox Box)> labels)
    {
        var kept = predictions.Where(p => p.Score > confidence).ToList();
        if (labels.Count == 0)
        {
            foreach (var p in kept)
            {
                Counts[p.ClassId, classes]++; // false positive
            }

            return;
        }

        // Pairs above the IoU threshold, best first; each label and each detection used once.
        var pairs = new List<(double IoU, int Label, int Prediction)>();
        for (var l = 0; l < labels.Count; l++)
        {
            for (var p = 0; p < kept.Count; p++)
            {
                var iou = labels[l].Box.IoU(kept[p].Box);
                if (iou > iouThreshold)
                {
                    pairs.Add((iou, l, p));
                }
            }
        }

        var labelTaken = new bool[labels.Count];
        var predictionTaken = new bool[kept.Count];
        foreach (var (_, label, prediction) in pairs.OrderByDescending(p => p.IoU))
        {
            if (!labelTaken[label] && !predictionTaken[prediction])
            {
                (labelTaken[label], predictionTaken[prediction]) = (true, true);
                Counts[kept[prediction].ClassId, labels[label].ClassId]++;
            }
        }

        for (var l = 0; l < labels.Count; l++)
        {
            if (!labelTaken[l])
            {
                Counts[classes, labels[l].ClassId]++; // missed: background "predicted"
            }
        }

        for (var p = 0; p < kept.Count; p++)
        {
            if (!predictionTaken[p])
            {
                Counts[kept[p].ClassId, classes]++; // nothing there
            }
        }
    }
}

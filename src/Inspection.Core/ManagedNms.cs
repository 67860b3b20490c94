using System.Buffers;

namespace Inspection.Core;

/// <summary>
/// The reference post-processing in plain C#: decode one image's raw output, keep the best class per box above
/// the confidence threshold, then greedy NMS within each class, best score first. The engine's grafted graph must
/// agree with it; it serves models whose opset is too old for the graft, and the trainer's validation.
/// </summary>
public static class ManagedNms
{
    /// <summary>Fills <paramref name="kept"/> with detections in model-input pixels.</summary>
    /// <param name="raw">One image's output: [4+nc, N], [N, 5+nc] or [K, 6] by <paramref name="layout"/>.</param>
    public static void Run(ReadOnlySpan<float> raw, OutputLayout layout, int classes, int candidates, DetectionThresholds thresholds, List<Detection> kept)
    {
        kept.Clear();
        var found = ArrayPool<Detection>.Shared.Rent(candidates);
        var order = ArrayPool<float>.Shared.Rent(candidates);
        try
        {
            var count = Decode(raw, layout, classes, candidates, thresholds.Confidence, found, order);
            Array.Sort(order, found, 0, count); // keys are negated scores: best first
            if (layout == OutputLayout.EndToEnd)
            {
                kept.AddRange(found.AsSpan(0, Math.Min(count, thresholds.MaxDetections)));
                return;
            }

            Suppress(found.AsSpan(0, count), thresholds, kept);
        }
        finally
        {
            ArrayPool<Detection>.Shared.Return(found);
            ArrayPool<float>.Shared.Return(order);
        }
    }

    private static int Decode(ReadOnlySpan<float> raw, OutputLayout layout, int classes, int candidates, float confidence, Detection[] found, float[] order)
    {
        var count = 0;
        for (var i = 0; i < candidates; i++)
        {
            float cx, cy, w, h, score;
            var bestClass = 0;
            switch (layout)
            {
                case OutputLayout.AnchorFree:
                    // Channel-major: element (c, i) is at c * candidates + i.
                    score = float.NegativeInfinity;
                    for (var c = 0; c < classes; c++)
                    {
                        var s = raw[((4 + c) * candidates) + i];
                        if (s > score)
                        {
                            (score, bestClass) = (s, c);
                        }
                    }

                    (cx, cy, w, h) = (raw[i], raw[candidates + i], raw[(2 * candidates) + i], raw[(3 * candidates) + i]);
                    break;
                case OutputLayout.Objectness:
                    var row = raw.Slice(i * (5 + classes), 5 + classes);
                    score = float.NegativeInfinity;
                    for (var c = 0; c < classes; c++)
                    {
                        var s = row[5 + c] * row[4];
                        if (s > score)
                        {
                            (score, bestClass) = (s, c);
                        }
                    }

                    (cx, cy, w, h) = (row[0], row[1], row[2], row[3]);
                    break;
                default:
                    var e2e = raw.Slice(i * 6, 6);
                    if (e2e[4] > confidence)
                    {
                        order[count] = -e2e[4];
                        found[count++] = new Detection((int)e2e[5], e2e[4], new BoundingBox(e2e[0], e2e[1], e2e[2], e2e[3]));
                    }

                    continue;
            }

            if (score > confidence)
            {
                order[count] = -score;
                found[count++] = new Detection(bestClass, score, new BoundingBox(cx - (w / 2), cy - (h / 2), cx + (w / 2), cy + (h / 2)));
            }
        }

        return count;
    }

    private static void Suppress(ReadOnlySpan<Detection> sorted, DetectionThresholds thresholds, List<Detection> kept)
    {
        foreach (var candidate in sorted)
        {
            var suppressed = false;
            foreach (var k in kept)
            {
                if (k.ClassId == candidate.ClassId && k.Box.IoU(candidate.Box) > thresholds.IoU)
                {
                    suppressed = true;
                    break;
                }
            }

            if (!suppressed)
            {
                kept.Add(candidate);
                if (kept.Count == thresholds.MaxDetections)
                {
                    return;
                }
            }
        }
    }
}

using static TorchSharp.torch;

namespace Inspection.Training.Utils;

/// <summary>Box overlap measures, as Ultralytics' utils/metrics.py computes them.</summary>
public static class Metrics
{
    /// <summary>
    /// Complete IoU of corner boxes [..., 4] (bbox_iou with CIoU=True): IoU less the normalised centre distance
    /// and an aspect-ratio term, so that boxes that do not overlap still pull together.
    /// </summary>
    public static Tensor CompleteIoU(Tensor box1, Tensor box2, double eps = 1e-7)
    {
        using var scope = NewDisposeScope();
        var a = box1.chunk(4, -1);
        var b = box2.chunk(4, -1);
        var (b1x1, b1y1, b1x2, b1y2) = (a[0], a[1], a[2], a[3]);
        var (b2x1, b2y1, b2x2, b2y2) = (b[0], b[1], b[2], b[3]);
        var (w1, h1) = (b1x2 - b1x1, b1y2 - b1y1 + eps);
        var (w2, h2) = (b2x2 - b2x1, b2y2 - b2y1 + eps);

        var intersection = (minimum(b1x2, b2x2) - maximum(b1x1, b2x1)).clamp_(0) * (minimum(b1y2, b2y2) - maximum(b1y1, b2y1)).clamp_(0);
        var union = (w1 * h1) + (w2 * h2) - intersection + eps;
        var iou = intersection / union;

        var cw = maximum(b1x2, b2x2) - minimum(b1x1, b2x1); // enclosing box
        var ch = maximum(b1y2, b2y2) - minimum(b1y1, b2y1);
        var c2 = cw.pow(2) + ch.pow(2) + eps;
        var rho2 = ((b2x1 + b2x2 - b1x1 - b1x2).pow(2) + (b2y1 + b2y2 - b1y1 - b1y2).pow(2)) / 4;
        var v = (4 / (Math.PI * Math.PI)) * (atan(w2 / h2) - atan(w1 / h1)).pow(2);
        Tensor alpha;
        using (no_grad())
        {
            alpha = v / (v - iou + (1 + eps));
        }

        return (iou - ((rho2 / c2) + (v * alpha))).MoveToOuterDisposeScope();
    }
}

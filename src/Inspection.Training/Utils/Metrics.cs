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
        var (w1, h1) = (b1x2 - b1x1, (b1y2 - b1y1).Plus(eps));
        var (w2, h2) = (b2x2 - b2x1, (b2y2 - b2y1).Plus(eps));

        var intersection = (minimum(b1x2, b2x2) - maximum(b1x1, b2x1)).clamp_(Scalars.Of(0.0)) * (minimum(b1y2, b2y2) - maximum(b1y1, b2y1)).clamp_(Scalars.Of(0.0));
        var union = ((w1 * h1).Plus(w2 * h2) - intersection).Plus(eps);
        var iou = intersection / union;

        var cw = maximum(b1x2, b2x2) - minimum(b1x1, b2x1); // enclosing box
        var ch = maximum(b1y2, b2y2) - minimum(b1y1, b2y1);
        var c2 = (cw * cw).Plus(ch * ch).Plus(eps);
        var (dx, dy) = (b2x1.Plus(b2x2) - b1x1 - b1x2, b2y1.Plus(b2y2) - b1y1 - b1y2); // twice the centre offsets
        var rho2 = (dx * dx).Plus(dy * dy).DividedBy(4.0);
        var angle = atan(w2 / h2) - atan(w1 / h1);
        var v = (angle * angle).Times(4 / (Math.PI * Math.PI));
        Tensor alpha;
        using (no_grad())
        {
            alpha = v / (v - iou).Plus(1 + eps);
        }

        return (iou - (rho2 / c2).Plus(v * alpha)).MoveToOuterDisposeScope();
    }
}

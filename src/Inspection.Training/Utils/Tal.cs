using static TorchSharp.torch;

namespace Inspection.Training.Utils;

/// <summary>Anchor points and box distances, as Ultralytics' utils/tal.py computes them.</summary>
public static class Tal
{
    /// <summary>
    /// The centre of every grid cell of every level, in grid units (offset 0.5), and each one's stride:
    /// ([A, 2] points as x, y; [A, 1] strides), levels in order, rows before columns (make_anchors).
    /// </summary>
    public static (Tensor Points, Tensor Strides) MakeAnchors(IReadOnlyList<(long Height, long Width)> sizes, IReadOnlyList<float> strides, Device device, double offset = 0.5)
    {
        using var scope = NewDisposeScope();
        var points = new List<Tensor>();
        var strideTensors = new List<Tensor>();
        for (var i = 0; i < sizes.Count; i++)
        {
            var (h, w) = sizes[i];
            var sx = Scalars.Range(w, float32, device).Plus(offset);
            var sy = Scalars.Range(h, float32, device).Plus(offset);
            var grid = meshgrid([sy, sx], indexing: "ij");
            points.Add(stack([grid[1], grid[0]], -1).view(-1, 2));
            strideTensors.Add(full(h * w, 1, Scalars.Of((double)strides[i]), dtype: float32, device: device));
        }

        return (cat(points).MoveToOuterDisposeScope(), cat(strideTensors).MoveToOuterDisposeScope());
    }

    /// <summary>Distances (left, top, right, bottom) from anchor points to boxes: centre-size (xywh) or corners (dist2bbox).</summary>
    public static Tensor Dist2Bbox(Tensor distance, Tensor anchorPoints, bool xywh = true, long dim = -1)
    {
        using var scope = NewDisposeScope();
        var parts = distance.chunk(2, dim);
        var (leftTop, rightBottom) = (parts[0], parts[1]);
        var x1y1 = anchorPoints - leftTop;
        var x2y2 = anchorPoints.Plus(rightBottom);
        var result = xywh ? cat([x1y1.Plus(x2y2).DividedBy(2.0), x2y2 - x1y1], dim) : cat([x1y1, x2y2], dim);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Boxes (corners) to distances from anchor points, clamped below reg_max (bbox2dist).</summary>
    public static Tensor Bbox2Dist(Tensor anchorPoints, Tensor boxes, double regMax)
    {
        using var scope = NewDisposeScope();
        var parts = boxes.chunk(2, -1);
        return cat([anchorPoints - parts[0], parts[1] - anchorPoints], -1).clamp_(Scalars.Of(0.0), Scalars.Of(regMax - 0.01)).MoveToOuterDisposeScope();
    }
}

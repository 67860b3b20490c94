using static TorchSharp.torch;

namespace Inspection.Training.Utils;

/// <summary>What the assigner decided per anchor: its target class, box and (soft) scores, and whether it is foreground.</summary>
public sealed record Assignment(Tensor Labels, Tensor Boxes, Tensor Scores, Tensor Foreground) : IDisposable
{
    public void Dispose()
    {
        Labels.Dispose();
        Boxes.Dispose();
        Scores.Dispose();
        Foreground.Dispose();
    }
}

/// <summary>
/// Ultralytics' TaskAlignedAssigner (utils/tal.py): each ground-truth box takes the top-k anchors inside it by
/// alignment = score^alpha x CIoU^beta; an anchor claimed by several boxes goes to the one it overlaps most;
/// target scores are the one-hot class scaled by the normalised alignment.
/// </summary>
public sealed class TaskAlignedAssigner(int classes, int topK = 10, double alpha = 0.5, double beta = 6.0, double eps = 1e-9)
{
    /// <param name="predictedScores">[B, A, C] probabilities.</param>
    /// <param name="predictedBoxes">[B, A, 4] corners in pixels.</param>
    /// <param name="anchorPoints">[A, 2] anchor centres in pixels.</param>
    /// <param name="gtLabels">[B, M, 1] class ids.</param>
    /// <param name="gtBoxes">[B, M, 4] corners in pixels.</param>
    /// <param name="gtMask">[B, M, 1]: 1 for real boxes, 0 for padding.</param>
    public Assignment Assign(Tensor predictedScores, Tensor predictedBoxes, Tensor anchorPoints, Tensor gtLabels, Tensor gtBoxes, Tensor gtMask)
    {
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var (batch, anchors) = (predictedScores.shape[0], predictedScores.shape[1]);
        var boxes = gtBoxes.shape[1];
        var device = predictedScores.device;
        if (boxes == 0)
        {
            var empty = new Assignment(
                full(batch, anchors, Scalars.Of((long)classes), dtype: int64, device: device),
                zeros_like(predictedBoxes),
                zeros_like(predictedScores),
                zeros(batch, anchors, dtype: @bool, device: device));
            empty.Labels.MoveToOuterDisposeScope();
            empty.Boxes.MoveToOuterDisposeScope();
            empty.Scores.MoveToOuterDisposeScope();
            empty.Foreground.MoveToOuterDisposeScope();
            return empty;
        }

        // Candidates: anchors inside a box, then the top-k of each box by alignment.
        var inBoxes = CandidatesInBoxes(anchorPoints, gtBoxes); // [B, M, A]
        var (alignment, overlaps) = BoxMetrics(predictedScores, predictedBoxes, gtLabels, gtBoxes, inBoxes * gtMask);
        var topMask = gtMask.expand(-1, -1, topK).to_type(ScalarType.Bool);
        var positive = TopK(alignment, topMask) * inBoxes * gtMask;

        // An anchor claimed by several boxes keeps only the box it overlaps most.
        var foreground = positive.sum(-2);
        if (foreground.max().item<float>() > 1)
        {
            var multiple = foreground.unsqueeze(1).gt(Scalars.Of(1.0)).expand(-1, boxes, -1);
            var best = overlaps.argmax(1);
            var isBest = zeros_like(positive).scatter_(1, best.unsqueeze(1), ones(batch, 1, anchors, device: device));
            positive = where(multiple, isBest, positive).to_type(ScalarType.Float32);
            foreground = positive.sum(-2);
        }

        var gtIndex = positive.argmax(-2); // [B, A]

        // Targets per anchor.
        var flatIndex = gtIndex.Plus(Scalars.Range(batch, int64, device).unsqueeze(-1).Times(boxes));
        var labels = gtLabels.to_type(ScalarType.Int64).flatten()[flatIndex].clamp_(Scalars.Of(0L));
        var targetBoxes = gtBoxes.view(-1, gtBoxes.shape[^1])[flatIndex];
        var scores = nn.functional.one_hot(labels, classes).to_type(ScalarType.Float32);
        scores = where(foreground.unsqueeze(-1).repeat(1, 1, classes).gt(Scalars.Of(0.0)), scores, zeros_like(scores));

        // Soft scores: alignment normalised per box so its best anchor scores its best IoU.
        alignment *= positive;
        var bestAlignment = alignment.amax([-1], keepdim: true);
        var bestOverlap = (overlaps * positive).amax([-1], keepdim: true);
        var normalised = (alignment * bestOverlap / bestAlignment.Plus(eps)).amax([-2]).unsqueeze(-1);
        scores *= normalised;

        var result = new Assignment(labels, targetBoxes, scores, foreground.gt(Scalars.Of(0.0)));
        result.Labels.MoveToOuterDisposeScope();
        result.Boxes.MoveToOuterDisposeScope();
        result.Scores.MoveToOuterDisposeScope();
        result.Foreground.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>[B, M, A]: 1 where the anchor centre lies strictly inside the box (select_candidates_in_gts).</summary>
    internal static Tensor CandidatesInBoxes(Tensor anchorPoints, Tensor gtBoxes, double eps = 1e-9)
    {
        var (batch, boxes, anchors) = (gtBoxes.shape[0], gtBoxes.shape[1], anchorPoints.shape[0]);
        var corners = gtBoxes.view(-1, 1, 4).chunk(2, 2);
        var deltas = cat([anchorPoints.unsqueeze(0) - corners[0], corners[1] - anchorPoints.unsqueeze(0)], 2).view(batch, boxes, anchors, -1);
        return deltas.amin([3]).gt(Scalars.Of(eps)).to_type(ScalarType.Float32);
    }

    private (Tensor Alignment, Tensor Overlaps) BoxMetrics(Tensor scores, Tensor predictedBoxes, Tensor gtLabels, Tensor gtBoxes, Tensor mask)
    {
        var (batch, anchors) = (scores.shape[0], scores.shape[1]);
        var boxes = gtBoxes.shape[1];
        var valid = mask.to_type(ScalarType.Bool);

        // The score each anchor gives to each box's class: [B, M, A].
        var classScores = scores.transpose(1, 2).gather(1, gtLabels.to_type(ScalarType.Int64).expand(-1, -1, anchors)); // [B, M, A]
        var expandedPredicted = predictedBoxes.unsqueeze(1).expand(-1, boxes, -1, -1);
        var expandedTruth = gtBoxes.unsqueeze(2).expand(-1, -1, anchors, -1);
        var overlaps = zeros(batch, boxes, anchors, device: scores.device);
        var iou = Metrics.CompleteIoU(expandedTruth, expandedPredicted).squeeze(-1).clamp_(Scalars.Of(0.0));
        overlaps = where(valid, iou, overlaps);
        var boxScores = where(valid, classScores, zeros_like(classScores));
        return (boxScores.pow(Scalars.Of(alpha)) * overlaps.pow(Scalars.Of(beta)), overlaps);
    }

    /// <summary>[B, M, A]: 1 for each box's top-k anchors by metric, 0 for padding boxes (select_topk_candidates).</summary>
    private Tensor TopK(Tensor metrics, Tensor topMask)
    {
        var k = (int)Math.Min(topK, metrics.shape[^1]);
        var (_, indices) = metrics.topk(k, dim: -1, largest: true);
        indices = indices.masked_fill(topMask[.., .., ..k].logical_not(), Scalars.Of(0L));
        var counts = zeros(metrics.shape, dtype: int8, device: metrics.device);
        var ones = ones_like(indices[.., .., ..1], dtype: int8);
        for (var i = 0; i < k; i++)
        {
            counts.scatter_add_(-1, indices[.., .., i..(i + 1)], ones);
        }

        counts.masked_fill_(counts.gt(Scalars.Of(1L)), Scalars.Of(0L)); // the padding boxes' index 0, counted k times
        return counts.to_type(metrics.dtype);
    }
}

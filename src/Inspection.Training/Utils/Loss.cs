using Inspection.Training.Nn.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Utils;

/// <summary>The loss's parts after their gains: box (CIoU), class (BCE), DFL, as Ultralytics logs them.</summary>
public readonly record struct LossItems(float Box, float Class, float Dfl);

/// <summary>
/// Ultralytics' v8DetectionLoss (utils/loss.py): the task-aligned assigner picks targets; classes are trained
/// with BCE against the soft target scores; boxes with CIoU and distribution focal loss, weighted by the
/// target scores. Gains box 7.5, cls 0.5, dfl 1.5. Returns the loss times the batch size, as Ultralytics does.
/// </summary>
public sealed class DetectionLoss(int classes, float[] strides, double boxGain = 7.5, double classGain = 0.5, double dflGain = 1.5)
{
    private const int RegMax = Detect.RegMax;
    private readonly TaskAlignedAssigner _assigner = new(classes);

    /// <param name="raw">The head's raw outputs per level, [B, 64 + C, H, W].</param>
    /// <param name="batchIndex">[N] image index of each ground-truth box.</param>
    /// <param name="labels">[N] class of each box.</param>
    /// <param name="boxes">[N, 4] normalised centre-size boxes.</param>
    public (Tensor Loss, LossItems Items) Compute(Tensor[] raw, Tensor batchIndex, Tensor labels, Tensor boxes)
    {
        using var scope = NewDisposeScope();
        var batch = raw[0].shape[0];
        var device = raw[0].device;
        var outputs = (4 * RegMax) + classes;
        var all = cat(raw.Select(x => x.view(batch, outputs, -1)).ToArray(), 2);
        var split = all.split([4 * RegMax, classes], 1);
        var predictedDistribution = split[0].permute(0, 2, 1).contiguous(); // [B, A, 64]
        var predictedScores = split[1].permute(0, 2, 1).contiguous();       // [B, A, C]

        var (imageHeight, imageWidth) = (raw[0].shape[2] * strides[0], raw[0].shape[3] * strides[0]);
        var (anchorPoints, strideTensor) = Tal.MakeAnchors(raw.Select(x => (x.shape[2], x.shape[3])).ToArray(), strides, device);

        var (gtLabels, gtBoxes) = Targets(batchIndex, labels, boxes, batch, imageWidth, imageHeight, device);
        var gtMask = gtBoxes.sum([2], keepdim: true).gt(Scalars.Of(0.0)).to_type(ScalarType.Float32);

        var predictedBoxes = Decode(anchorPoints, predictedDistribution); // corners, grid units
        using var assignment = _assigner.Assign(
            predictedScores.detach().sigmoid(), (predictedBoxes.detach() * strideTensor).to_type(gtBoxes.dtype),
            anchorPoints * strideTensor, gtLabels, gtBoxes, gtMask);
        var scoreSum = assignment.Scores.sum().clamp_min(Scalars.One);

        var classLoss = nn.functional.binary_cross_entropy_with_logits(predictedScores, assignment.Scores, reduction: nn.Reduction.None).sum() / scoreSum;
        var boxLoss = zeros(1, device: device).squeeze();
        var dflLoss = zeros(1, device: device).squeeze();
        var foreground = assignment.Foreground;
        if (foreground.any().item<bool>())
        {
            var targetBoxes = assignment.Boxes / strideTensor;
            var weight = assignment.Scores.sum(-1)[foreground].unsqueeze(-1);
            var iou = Metrics.CompleteIoU(predictedBoxes[foreground], targetBoxes[foreground]);
            boxLoss = (iou.OneMinus() * weight).sum() / scoreSum;
            var targetDistances = Tal.Bbox2Dist(anchorPoints, targetBoxes, RegMax - 1);
            dflLoss = (DistributionFocalLoss(predictedDistribution[foreground].view(-1, RegMax), targetDistances[foreground]) * weight).sum() / scoreSum;
        }

        var (box, cls, dfl) = (boxLoss.Times(boxGain), classLoss.Times(classGain), dflLoss.Times(dflGain));
        var items = new LossItems(box.item<float>(), cls.item<float>(), dfl.item<float>());
        return (box.Plus(cls).Plus(dfl).Times(batch).MoveToOuterDisposeScope(), items);
    }

    /// <summary>Box logits [B, A, 64] to corner boxes [B, A, 4] in grid units (bbox_decode).</summary>
    internal static Tensor Decode(Tensor anchorPoints, Tensor distribution)
    {
        var (batch, anchors) = (distribution.shape[0], distribution.shape[1]);
        var project = Scalars.Range(RegMax, float32, distribution.device);
        var distances = distribution.view(batch, anchors, 4, RegMax).softmax(3).matmul(project);
        return Tal.Dist2Bbox(distances, anchorPoints, xywh: false);
    }

    /// <summary>DFL: cross-entropy to the two bins around each target distance, weighted by nearness (_df_loss).</summary>
    internal static Tensor DistributionFocalLoss(Tensor logits, Tensor target)
    {
        var left = target.to_type(ScalarType.Int64);
        var right = left.Plus(1L);
        var leftWeight = right - target;
        var rightWeight = leftWeight.OneMinus();
        var leftLoss = nn.functional.cross_entropy(logits, left.view(-1), reduction: nn.Reduction.None).view(left.shape) * leftWeight;
        var rightLoss = nn.functional.cross_entropy(logits, right.view(-1), reduction: nn.Reduction.None).view(left.shape) * rightWeight;
        return leftLoss.Plus(rightLoss).mean([-1], keepdim: true);
    }

    /// <summary>Per-image padded targets: labels [B, M, 1] and corner boxes [B, M, 4] in pixels (preprocess).</summary>
    private static (Tensor Labels, Tensor Boxes) Targets(Tensor batchIndex, Tensor labels, Tensor boxes, long batch, float width, float height, Device device)
    {
        var counts = new long[batch];
        var indices = batchIndex.to_type(ScalarType.Int64).cpu().data<long>().ToArray();
        foreach (var i in indices)
        {
            counts[i]++;
        }

        var most = counts.DefaultIfEmpty(0).Max();
        var padded = zeros(batch, most, 5, device: device);
        if (most > 0)
        {
            var scale = tensor(new[] { width, height, width, height }, device: device);
            var xywh = boxes.to(device) * scale;
            var halfSize = xywh[.., 2..].DividedBy(2.0);
            var corners = cat([xywh[.., ..2] - halfSize, xywh[.., ..2].Plus(halfSize)], 1);
            var rows = cat([labels.to(device).to_type(ScalarType.Float32).view(-1, 1), corners], 1);
            var slot = new long[batch];
            for (var n = 0; n < indices.Length; n++)
            {
                padded[indices[n], slot[indices[n]]++] = rows[n];
            }
        }

        var parts = padded.split([1, 4], 2);
        return (parts[0], parts[1]);
    }
}

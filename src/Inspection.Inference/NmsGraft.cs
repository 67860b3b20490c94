using Inspection.Core;
using Inspection.Onnx;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.Inference;

/// <summary>
/// Grafts YOLO post-processing onto a model's graph in memory: decode boxes, best class per box, a score
/// threshold, one multi-class NonMaxSuppression (boxes offset by class so a single pass keeps classes
/// apart), and a gather into a padded [B, max_det, 6] tensor. NMS then runs on the execution provider that
/// runs the model. Thresholds are graph inputs, so changing them needs no rebuild.
/// </summary>
public static class NmsGraft
{
    public const string ConfidenceInput = "nms_confidence";
    public const string IoUInput = "nms_iou";
    public const string MaxDetectionsInput = "nms_max_detections";

    /// <summary>[B, max_det, 6] of x1, y1, x2, y2, score, class in model-input pixels; rows past the count are zero.</summary>
    public const string DetectionsOutput = "detections";

    /// <summary>[B] int64: how many rows of <see cref="DetectionsOutput"/> each image fills.</summary>
    public const string CountsOutput = "detection_counts";

    /// <summary>Offset between classes' boxes, as Ultralytics' max_wh: larger than any image side.</summary>
    public const float ClassOffset = 7680f;

    /// <summary>The lowest default-domain opset with every operator the graft uses (NonMaxSuppression-11, ScatterND, CumSum).</summary>
    public const long MinimumOpset = 11;

    public static bool CanGraft(YoloModelDescription model) =>
        model.Opset >= MinimumOpset && model.Info.Layout is OutputLayout.AnchorFree or OutputLayout.Objectness;

    public static void Apply(ModelProto model, YoloModelDescription description)
    {
        if (!CanGraft(description))
        {
            throw new InvalidOperationException($"NMS cannot be grafted onto a {description.Info.Layout} model of opset {description.Opset}.");
        }

        var g = new GraphBuilder(model.Graph, description.Opset, "nms/");
        var raw = description.OutputType == DataType.Float ? description.OutputName : g.Cast(description.OutputName, DataType.Float);

        // Work channel-major, [B, C, N], so the large score tensor is never transposed: only the six
        // values per candidate that NMS and the output need are.
        var channels = description.Info.Layout == OutputLayout.AnchorFree ? raw : g.Op("Transpose", [raw], ("perm", new long[] { 0, 2, 1 }));
        var centre = g.Slice(channels, 0, 2, 1); // [B, 2, N]
        var size = g.Slice(channels, 2, 4, 1);
        var scores = description.Info.Layout == OutputLayout.AnchorFree
            ? g.Slice(channels, 4, long.MaxValue, 1)
            : g.Op("Mul", g.Slice(channels, 5, long.MaxValue, 1), g.Slice(channels, 4, 5, 1)); // class score x objectness

        var half = g.Op("Mul", size, g.Scalar(0.5f));
        var corners = g.Op("Concat", [g.Op("Sub", centre, half), g.Op("Add", centre, half)], ("axis", 1L)); // [B, 4, N]
        var bestIndex = g.Op("ArgMax", [scores], ("axis", 1L), ("keepdims", 1L)); // [B, 1, N]
        var best = g.Op("GatherElements", [scores, bestIndex], ("axis", 1L)); // one pass over the scores, not two
        var bestClass = g.Cast(bestIndex, DataType.Float);

        var offsetBoxes = g.Op("Transpose", [g.Op("Add", corners, g.Op("Mul", bestClass, g.Scalar(ClassOffset)))], ("perm", new long[] { 0, 2, 1 })); // [B, N, 4]
        g.AddInput(MaxDetectionsInput, DataType.Int64, 1);
        g.AddInput(IoUInput, DataType.Float, 1);
        g.AddInput(ConfidenceInput, DataType.Float, 1);
        var selected = g.Op("NonMaxSuppression", offsetBoxes, best, MaxDetectionsInput, IoUInput, ConfidenceInput); // [K, 3]

        // Gather the kept rows, [K, 6] of x1, y1, x2, y2, score, class, from the channel-major values laid out
        // as [6, B * N] (a cheap block copy), rather than transposing every candidate to rows.
        var values = g.Op("Concat", [corners, best, bestClass], ("axis", 1L)); // [B, 6, N]
        var flatValues = g.Op("Reshape", g.Op("Transpose", [values], ("perm", new long[] { 1, 0, 2 })), g.Constant([6L, -1], 2));
        var candidateCount = g.Op("Gather", [g.Op("Shape", raw), g.Scalar(description.Info.Layout == OutputLayout.AnchorFree ? 2L : 1L)], ("axis", 0L));
        var imageOfKept = g.Slice(selected, 0, 1, 1); // [K, 1]
        var flatIndex = g.Op("Add", g.Op("Mul", imageOfKept, candidateCount), g.Slice(selected, 2, 3, 1)); // [K, 1]
        var kept = g.Op("Transpose", [g.Op("Gather", [flatValues, g.Op("Reshape", flatIndex, g.Constant([-1L], 1))], ("axis", 1L))], ("perm", new long[] { 1, 0 }));

        // NonMaxSuppression lists images in order, so a kept row's place within its image is its index
        // minus the number of rows kept for earlier images.
        var batch = g.Op("Gather", [g.Op("Shape", raw), g.Scalar(0L)], ("axis", 0L));
        var imageIds = g.Op("Range", g.Scalar(0L), batch, g.Scalar(1L)); // [B]
        var imageOfKeptFlat = g.Op("Reshape", imageOfKept, g.Constant([-1L], 1)); // [K]
        var keptByImage = g.Cast(g.Op("Equal", g.Unsqueeze(imageIds, 1), g.Unsqueeze(imageOfKeptFlat, 0)), DataType.Int64); // [B, K]
        var counts = g.ReduceSum(keptByImage, [1], keepDims: false); // [B]
        var firstOfImage = g.Op("CumSum", [counts, g.Scalar(0L)], ("exclusive", 1L));
        var keptCount = g.Op("Gather", [g.Op("Shape", imageOfKeptFlat), g.Scalar(0L)], ("axis", 0L));
        var place = g.Op("Sub", g.Op("Range", g.Scalar(0L), keptCount, g.Scalar(1L)), g.Op("Gather", firstOfImage, imageOfKeptFlat));
        var target = g.Op("Concat", [imageOfKept, g.Unsqueeze(place, 1)], ("axis", 1L)); // [K, 2]

        var paddedShape = g.Op("Concat", [g.Unsqueeze(batch, 0), MaxDetectionsInput, g.Constant([6L], 1)], ("axis", 0L));
        var zeros = g.Op("ConstantOfShape", [paddedShape], ("value", GraphBuilder.FloatTensor("zero", [0f], 1)));
        g.OpNamed(DetectionsOutput, "ScatterND", [zeros, target, kept]);
        g.OpNamed(CountsOutput, "Identity", [counts]);

        model.Graph.Output.Clear();
        g.AddOutput(DetectionsOutput, DataType.Float, "batch", "max_detections", 6);
        g.AddOutput(CountsOutput, DataType.Int64, "batch");
    }
}

using Google.Protobuf;
using Inspection.Core;
using Inspection.Onnx;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.TestSupport;

/// <summary>
/// Small ONNX models built with the project's own graph builder: an image input and a constant raw output of a
/// chosen layout, so that decoding can be checked against boxes known in advance.
/// </summary>
public static class SyntheticModels
{
    public static readonly string[] ClassNames = ["scratch", "dent", "crack"];

    /// <summary>The input size of the synthetic models: 64 px, so 8x8 + 4x4 + 2x2 = 84 anchor points.</summary>
    public const int ImageSize = 64;

    private const int Anchors = 84;

    // (cx, cy, w, h, class, score) in model pixels. B overlaps A in A's class and is suppressed (IoU 0.68);
    // C is the same box as B in another class and stays; D is below the confidence threshold.
    public static readonly (float Cx, float Cy, float W, float H, int Class, float Score)[] Boxes =
    [
        (20, 30, 10, 10, 1, 0.9f), // A
        (21, 31, 10, 10, 1, 0.8f), // B
        (21, 31, 10, 10, 2, 0.7f), // C
        (50, 40, 8, 6, 0, 0.1f),   // D
        (40, 40, 12, 20, 0, 0.6f), // E
    ];


    /// <summary>
    /// A model (batch fixed at <paramref name="batch"/>, or dynamic when null) whose output is <paramref name="raw"/> (shape <paramref name="rawShape"/>, batch first) for every
    /// image: output = raw + 0 * sum(image), so the output still depends on the input, as a real model's does.
    /// </summary>
    public static ModelProto ConstantOutput(
        float[] raw, long[] rawShape, int imageSize, int? batch = 1, long opset = 17,
        IReadOnlyList<string>? names = null, string? task = "detect", bool? endToEnd = null)
    {
        var model = new ModelProto
        {
            IrVersion = opset >= 15 ? 8 : 5,
            ProducerName = "inspection-tests",
            Graph = new GraphProto { Name = "synthetic" },
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = opset });
        var g = new GraphBuilder(model.Graph, opset);
        object batchDim = batch is { } fixedBatch ? (long)fixedBatch : "batch";
        g.AddInput("images", DataType.Float, batchDim, 3, imageSize, imageSize);

        var perImage = g.ReduceSum("images", [1, 2, 3], keepDims: true); // [B, 1, 1, 1]
        var zero = g.Op("Mul", g.Op("Reshape", perImage, g.Constant([-1L, 1, 1], 3)), g.Scalar(0f)); // [B, 1, 1]
        var constant = g.Constant(raw, [1, .. rawShape[1..]]);
        g.OpNamed("output0", "Add", [constant, zero]);
        g.AddOutput("output0", DataType.Float, batchDim, rawShape[1], rawShape[2]);

        new UltralyticsMetadata
        {
            Names = names ?? ClassNames,
            Task = task,
            Stride = 32,
            ImageSize = (imageSize, imageSize),
            Batch = batch,
            EndToEnd = endToEnd,
        }.WriteTo(model);
        return model;
    }

    public static string Save(ModelProto model, string path)
    {
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    public static (float[] Raw, long[] Shape) RawOutput(OutputLayout layout)
    {
        var classes = SyntheticModels.ClassNames.Length;
        switch (layout)
        {
            case OutputLayout.AnchorFree:
            {
                var raw = new float[(4 + classes) * Anchors];
                for (var i = 0; i < Boxes.Length; i++)
                {
                    var b = Boxes[i];
                    raw[i] = b.Cx;
                    raw[Anchors + i] = b.Cy;
                    raw[(2 * Anchors) + i] = b.W;
                    raw[(3 * Anchors) + i] = b.H;
                    raw[((4 + b.Class) * Anchors) + i] = b.Score;
                }

                return (raw, [1, 4 + classes, Anchors]);
            }

            case OutputLayout.Objectness:
            {
                var stride = 5 + classes;
                var raw = new float[3 * Anchors * stride];
                for (var i = 0; i < Boxes.Length; i++)
                {
                    var b = Boxes[i];
                    const float objectness = 0.95f;
                    raw[i * stride] = b.Cx;
                    raw[(i * stride) + 1] = b.Cy;
                    raw[(i * stride) + 2] = b.W;
                    raw[(i * stride) + 3] = b.H;
                    raw[(i * stride) + 4] = objectness;
                    raw[(i * stride) + 5 + b.Class] = b.Score / objectness;
                }

                return (raw, [1, 3 * Anchors, stride]);
            }

            default:
            {
                // What an end-to-end model emits: already suppressed (no B), best first, then padding rows.
                const int rows = 300;
                var raw = new float[rows * 6];
                var kept = Boxes.Where((_, i) => i != 1).OrderByDescending(b => b.Score).ToArray();
                for (var i = 0; i < kept.Length; i++)
                {
                    var b = kept[i];
                    float[] row = [b.Cx - (b.W / 2), b.Cy - (b.H / 2), b.Cx + (b.W / 2), b.Cy + (b.H / 2), b.Score, b.Class];
                    row.CopyTo(raw, i * 6);
                }

                return (raw, [1, rows, 6]);
            }
        }
    }

    public static ImageView Image(int width, int height, int channels) =>
        new(new byte[width * height * channels], width, height, channels);
}

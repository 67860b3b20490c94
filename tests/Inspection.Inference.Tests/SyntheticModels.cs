using Google.Protobuf;
using Inspection.Onnx;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.Inference.Tests;

/// <summary>
/// Small ONNX models built with the project's own graph builder: an image input and a constant raw output of a
/// chosen layout, so that decoding can be checked against boxes known in advance.
/// </summary>
internal static class SyntheticModels
{
    public static readonly string[] ClassNames = ["scratch", "dent", "crack"];

    /// <summary>
    /// A model whose output is <paramref name="raw"/> (shape <paramref name="rawShape"/>, batch first) for every
    /// image: output = raw + 0 * sum(image), so the output still depends on the input, as a real model's does.
    /// </summary>
    public static ModelProto ConstantOutput(
        float[] raw, long[] rawShape, int imageSize, bool dynamicBatch = false, long opset = 17,
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
        object batch = dynamicBatch ? "batch" : 1L;
        g.AddInput("images", DataType.Float, batch, 3, imageSize, imageSize);

        var perImage = g.ReduceSum("images", [1, 2, 3], keepDims: true); // [B, 1, 1, 1]
        var zero = g.Op("Mul", g.Op("Reshape", perImage, g.Constant([-1L, 1, 1], 3)), g.Scalar(0f)); // [B, 1, 1]
        var constant = g.Constant(raw, [1, .. rawShape[1..]]);
        g.OpNamed("output0", "Add", [constant, zero]);
        g.AddOutput("output0", DataType.Float, batch, rawShape[1], rawShape[2]);

        new UltralyticsMetadata
        {
            Names = names ?? ClassNames,
            Task = task,
            Stride = 32,
            ImageSize = (imageSize, imageSize),
            Batch = dynamicBatch ? null : 1,
            EndToEnd = endToEnd,
        }.WriteTo(model);
        return model;
    }

    public static string Save(ModelProto model, string path)
    {
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }
}

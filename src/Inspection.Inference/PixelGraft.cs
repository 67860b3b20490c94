using System.Runtime.InteropServices;
using Google.Protobuf;
using Inspection.Onnx;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.Inference;

/// <summary>
/// Grafts the input conversion onto a model's graph in memory: it then takes letterboxed pixels as decoded, uint8
/// [B, H, W, 3] in OpenCV's BGR order, and turns them into what the model was trained on (RGB planes, float, /255)
/// itself. The host only resizes and pads into bytes, a quarter of what crosses to a GPU, and the conversion
/// runs on the model's execution provider.
/// </summary>
public static class PixelGraft
{
    /// <summary>The grafted model's one image input: uint8 [B, H, W, 3], BGR.</summary>
    public const string PixelsInput = "pixels";

    public static void Apply(ModelProto model, YoloModelDescription description)
    {
        var input = model.Graph.Input.First(i => i.Name == description.InputName);
        var batch = input.Type.TensorType.Shape.Dim[0];
        var info = description.Info;

        // Built aside and put first, so the nodes stay in topological order.
        var conversion = new GraphProto();
        var g = new GraphBuilder(conversion, description.Opset, "pixels/");
        var planes = g.Op("Transpose", [PixelsInput], ("perm", new long[] { 0, 3, 1, 2 })); // [B, 3, H, W], still bytes
        if (FirstConvolutions(model.Graph, description) is { } convolutions)
        {
            // Conv is linear in its input: weights that take BGR planes of 0-255 compute what the model's take from
            // RGB planes of 0-1, without passes over the image to swap planes and divide (1.3% of YOLOv8n's time).
            foreach (var weights in convolutions)
            {
                TakeBgrBytes(weights);
            }

            g.OpNamed(description.InputName, "Cast", [planes], ("to", (long)DataType.Float));
        }
        else
        {
            var rgb = g.Op("Gather", [planes, g.Constant([2L, 1, 0], 3)], ("axis", 1L)); // BGR to RGB: three plane copies
            var unit = g.Cast(rgb, DataType.Float);
            if (description.InputType == DataType.Float)
            {
                g.OpNamed(description.InputName, "Div", [unit, g.Scalar(255f)]); // as Ultralytics' `im /= 255`
            }
            else
            {
                g.OpNamed(description.InputName, "Cast", [g.Op("Div", unit, g.Scalar(255f))], ("to", (long)description.InputType));
            }
        }

        for (var i = conversion.Node.Count - 1; i >= 0; i--)
        {
            model.Graph.Node.Insert(0, conversion.Node[i]);
        }

        model.Graph.Initializer.Add(conversion.Initializer);
        model.Graph.Input.Remove(input);
        var pixels = GraphBuilder.ValueInfo(PixelsInput, DataType.Uint8, info.InputHeight, info.InputWidth, 3);
        pixels.Type.TensorType.Shape.Dim.Insert(0, batch.Clone());
        model.Graph.Input.Insert(0, pixels);
    }

    /// <summary>
    /// The weights of the convolutions that take the image, when those are all that take it and each has float
    /// weights of its own over three channels (YOLO's first layer); null otherwise (a quantised model's first
    /// layer, say), and the conversion is done in full.
    /// </summary>
    private static List<TensorProto>? FirstConvolutions(GraphProto graph, YoloModelDescription description)
    {
        if (description.InputType != DataType.Float)
        {
            return null;
        }

        var weights = new List<TensorProto>();
        foreach (var node in graph.Node.Where(n => n.Input.Contains(description.InputName)))
        {
            var group = node.Attribute.FirstOrDefault(a => a.Name == "group")?.I ?? 1;
            var weight = node.Input.Count > 1 ? graph.Initializer.FirstOrDefault(t => t.Name == node.Input[1]) : null;
            var ownWeight = weight is not null && graph.Node.Count(n => n.Input.Contains(weight.Name)) == 1;
            if (node.OpType != "Conv" || node.Domain is not ("" or "ai.onnx") || node.Input[0] != description.InputName || group != 1
                || !ownWeight || weight!.DataType != (int)DataType.Float || weight.Dims.Count != 4 || weight.Dims[1] != 3 || weight.ExternalData.Count > 0)
            {
                return null;
            }

            weights.Add(weight);
        }

        return weights.Count > 0 ? weights : null;
    }

    /// <summary>Reverses the input channels of [O, 3, kh, kw] weights and divides them by 255.</summary>
    private static void TakeBgrBytes(TensorProto weights)
    {
        var values = weights.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(weights.RawData.Span).ToArray() : weights.FloatData.ToArray();
        var kernel = (int)(weights.Dims[2] * weights.Dims[3]);
        var bgr = new float[values.Length];
        for (var o = 0; o < weights.Dims[0]; o++)
        {
            for (var c = 0; c < 3; c++)
            {
                var from = values.AsSpan(((o * 3) + (2 - c)) * kernel, kernel);
                var to = bgr.AsSpan(((o * 3) + c) * kernel, kernel);
                for (var k = 0; k < kernel; k++)
                {
                    to[k] = from[k] / 255f;
                }
            }
        }

        weights.FloatData.Clear();
        weights.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(bgr.AsSpan()));
    }
}

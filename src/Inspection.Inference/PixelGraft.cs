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
        var rgb = g.Op("Gather", [planes, g.Constant([2L, 1, 0], 3)], ("axis", 1L)); // BGR to RGB: three plane copies
        var unit = g.Cast(rgb, DataType.Float);
        if (description.InputType == DataType.Float)
        {
            g.OpNamed(description.InputName, "Div", [unit, g.Scalar(255f)]); // as Ultralytics' `im /= 255`, exactly
        }
        else
        {
            g.OpNamed(description.InputName, "Cast", [g.Op("Div", unit, g.Scalar(255f))], ("to", (long)description.InputType));
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
}

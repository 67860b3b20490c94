using System.Globalization;
using System.Security.Cryptography;
using Inspection.Core;
using Inspection.Onnx;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.Inference;

/// <summary>What the engine needs to know about a model's graph besides the <see cref="ModelInfo"/> it publishes.</summary>
public sealed record YoloModelDescription(
    ModelInfo Info,
    string InputName,
    string OutputName,
    DataType InputType,
    DataType OutputType,
    int ClassCount,
    long Opset)
{
    /// <summary>
    /// Rows of the raw output per image: anchors for <see cref="OutputLayout.AnchorFree"/>, anchor boxes for
    /// <see cref="OutputLayout.Objectness"/>, detections for <see cref="OutputLayout.EndToEnd"/>.
    /// </summary>
    public required int Candidates { get; init; }
}

/// <summary>Recognises an ONNX detector's input, output layout, classes and size from its shapes and Ultralytics metadata.</summary>
public static class YoloModelReader
{
    private const string Supported =
        "supported layouts: [B, 4+classes, anchors] (YOLOv8, YOLO11, YOLOv5u, v9, v12), [B, anchors, 5+classes] (YOLOv5, YOLOv7) " +
        "and [B, K, 6] (end-to-end: YOLOv10, YOLO26, exported with nms=True)";

    public static YoloModelDescription Describe(ModelProto model, string source, int? imageSize = null)
    {
        var metadata = UltralyticsMetadata.Read(model, source);
        if (metadata.Task is { } task && task != "detect")
        {
            throw new ModelFormatException($"Model '{source}' is a '{task}' model; the engine runs detection models (task=detect). Export a detection model.");
        }

        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new ModelFormatException(
                $"Model '{source}' has {inputs.Count} inputs ({string.Join(", ", inputs.Select(Describe))}); a detector takes one image tensor [B, 3, H, W].");
        }

        var input = inputs[0];
        var inputDims = Dims(input);
        var inputType = ElementType(input);
        if (inputDims.Length != 4 || inputDims[1] is not (3 or -1) || inputType is not (DataType.Float or DataType.Float16))
        {
            throw new ModelFormatException(
                $"Model '{source}' takes {Describe(input)}; a detector takes one float image tensor [B, 3, H, W]. {Supported}.");
        }

        var (height, width) = InputSize(source, inputDims, metadata, imageSize);
        var stride = metadata.Stride ?? 32;
        if (height % stride != 0 || width % stride != 0)
        {
            throw new InspectionInputException($"Image size {width}x{height} is not a multiple of the model's stride {stride}; choose a size such as {RoundUp(Math.Max(height, width), stride)}.");
        }

        var outputs = model.Graph.Output.ToList();
        var output = outputs[0];
        var outDims = Dims(output);
        var (layout, classes, candidates) = RecogniseLayout(outDims, height, width, stride, metadata);
        if (layout is null || (metadata.Names is { } declared && declared.Count != classes))
        {
            var found = string.Join(", ", outputs.Select(Describe));
            var namesNote = metadata.Names is { } n ? $" and {n.Count} class names" : string.Empty;
            throw new ModelFormatException(
                $"Model '{source}' has output {found} for input {width}x{height}{namesNote}, which is no YOLO detection layout; {Supported}.");
        }

        var names = metadata.Names ?? Enumerable.Range(0, classes).Select(i => "class" + i.ToString(CultureInfo.InvariantCulture)).ToList();
        var info = new ModelInfo
        {
            Name = Path.GetFileNameWithoutExtension(source),
            Version = ShortHash(model),
            Names = names,
            InputWidth = width,
            InputHeight = height,
            Stride = stride,
            FixedBatch = inputDims[0] > 0 ? (int)inputDims[0] : null,
            Layout = layout.Value,
        };
        return new YoloModelDescription(info, input.Name, output.Name, inputType, ElementType(output), classes, OnnxModelFile.DefaultOpset(model))
        {
            Candidates = candidates,
        };
    }

    /// <summary>Anchor points of an anchor-free head with strides 8 .. maxStride on an image of the given size.</summary>
    public static int AnchorPoints(int height, int width, int maxStride)
    {
        var total = 0;
        for (var s = 8; s <= maxStride; s *= 2)
        {
            total += (height / s) * (width / s);
        }

        return total;
    }

    private static (OutputLayout? Layout, int Classes, int Candidates) RecogniseLayout(long[] dims, int height, int width, int stride, UltralyticsMetadata metadata)
    {
        if (dims.Length != 3)
        {
            return (null, 0, 0);
        }

        var points = AnchorPoints(height, width, stride);
        var (rows, columns) = (dims[1], dims[2]);
        var declared = metadata.Names?.Count;

        // End-to-end first: its last dimension is 6 and its rows are not the anchor grid.
        if (columns == 6 && (metadata.EndToEnd == true || (rows != 3 * points && rows != points)))
        {
            return (OutputLayout.EndToEnd, declared ?? 0, (int)rows);
        }

        if ((columns == points || columns < 0) && rows > 4 && (declared is null || rows == 4 + declared))
        {
            return (OutputLayout.AnchorFree, (int)rows - 4, points);
        }

        if ((rows == 3 * points || rows < 0) && columns > 5 && (declared is null || columns == 5 + declared))
        {
            return (OutputLayout.Objectness, (int)columns - 5, 3 * points);
        }

        return (null, 0, 0);
    }

    private static (int Height, int Width) InputSize(string source, long[] dims, UltralyticsMetadata metadata, int? requested)
    {
        if (dims[2] > 0 && dims[3] > 0)
        {
            if (requested is { } size && (size != dims[2] || size != dims[3]))
            {
                throw new InspectionInputException($"Model '{source}' has a fixed input of {dims[3]}x{dims[2]}; image size {size} cannot be used. Leave it out or export the model with dynamic=True.");
            }

            return ((int)dims[2], (int)dims[3]);
        }

        if (requested is { } chosen)
        {
            return (chosen, chosen);
        }

        return metadata.ImageSize ?? throw new InspectionInputException(
            $"Model '{source}' has a dynamic input size and no 'imgsz' in its metadata; give the image size (for example --imgsz 640).");
    }

    private static long[] Dims(ValueInfoProto value) =>
        value.Type?.TensorType?.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : -1).ToArray() ?? [];

    private static DataType ElementType(ValueInfoProto value) => (DataType)(value.Type?.TensorType?.ElemType ?? 0);

    private static string Describe(ValueInfoProto value) =>
        $"'{value.Name}' [{string.Join(", ", (value.Type?.TensorType?.Shape?.Dim ?? []).Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString(CultureInfo.InvariantCulture) : (d.DimParam.Length > 0 ? d.DimParam : "?")))}]";

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private static string ShortHash(ModelProto model)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Google.Protobuf.MessageExtensions.ToByteArray(model.Graph), hash);
        return Convert.ToHexStringLower(hash[..6]);
    }
}

using Google.Protobuf;
using Inspection.Onnx;
using Inspection.Training.Nn;
using Inspection.Training.Nn.Modules;
using Inspection.Training.Utils;
using Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.Training.Export;

/// <summary>
/// Writes a <see cref="DetectionModel"/> as ONNX (opset 17) the way Ultralytics exports one: batch norm folded into
/// the convolutions, a dynamic batch dimension, the output "output0" [B, 4 + classes, anchors] of centre-size
/// boxes in pixels and class probabilities, and Ultralytics' metadata (names, imgsz, stride, task), so the
/// engine and other Ultralytics-compatible tools load it.
/// </summary>
public static class OnnxExporter
{
    public const long Opset = 17;

    public static void Export(DetectionModel model, int imageSize, string path, string? version = null)
    {
        File.WriteAllBytes(path, Build(model, imageSize, version).ToByteArray());
    }

    public static ModelProto Build(DetectionModel model, int imageSize, string? version = null)
    {
        if (imageSize % model.MaxStride != 0)
        {
            throw new Core.InspectionInputException($"Image size {imageSize} is not a multiple of the model's stride {model.MaxStride}.");
        }

        var proto = new ModelProto { IrVersion = 8, ProducerName = "inspection", ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0", Graph = new GraphProto { Name = "yolov8" + model.Scale.Name } };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = Opset });
        var writer = new Writer(new GraphBuilder(proto.Graph, Opset));
        using var scope = NewDisposeScope(); // keeps each temporary alive until the export is done: TorchSharp's finaliser frees unreferenced ones mid-call
        model.eval();
        using (no_grad())
        {
            writer.Builder.AddInput("images", DataType.Float, "batch", 3, imageSize, imageSize);
            var output = writer.Model(model, "images", imageSize);
            writer.Builder.OpNamed("output0", "Identity", [output]);
            writer.Builder.AddOutput("output0", DataType.Float, "batch", 4 + model.Names.Count, Anchors(imageSize));
        }

        new UltralyticsMetadata
        {
            Description = $"Inspection YOLOv8{model.Scale.Name} detector ({model.Names.Count} classes)",
            Version = version ?? "inspection",
            Names = model.Names,
            ImageSize = (imageSize, imageSize),
            Stride = model.MaxStride,
            Task = "detect",
            EndToEnd = false,
        }.WriteTo(proto);
        return proto;
    }

    private static int Anchors(int size) => (size / 8 * (size / 8)) + (size / 16 * (size / 16)) + (size / 32 * (size / 32));

    /// <summary>Emits the graph module by module, mirroring the modules' forward methods.</summary>
    private sealed class Writer(GraphBuilder builder)
    {
        private int _weights;

        public GraphBuilder Builder => builder;

        public string Model(DetectionModel model, string input, int imageSize)
        {
            var y = new string[22];
            var h = input;
            for (var i = 0; i < 22; i++)
            {
                h = i switch
                {
                    11 => Concat(h, y[6]),
                    14 => Concat(h, y[4]),
                    17 => Concat(h, y[12]),
                    20 => Concat(h, y[9]),
                    10 or 13 => builder.Op("Resize", [h, string.Empty, builder.Constant([1f, 1f, 2f, 2f], 4)], ("mode", "nearest"), ("coordinate_transformation_mode", "asymmetric"), ("nearest_mode", "floor")),
                    _ => Module(model.Layers[i], h),
                };
                y[i] = h;
            }

            return Head(model.Head, [y[15], y[18], y[21]], imageSize);
        }

        private string Module(object module, string x) => module switch
        {
            Conv conv => Conv(conv, x),
            C2f c2f => C2f(c2f, x),
            SPPF sppf => Sppf(sppf, x),
            _ => throw new NotSupportedException($"No ONNX form for {module.GetType().Name}."),
        };

        private string Concat(params string[] inputs) => builder.Op("Concat", inputs, ("axis", 1L));

        /// <summary>Conv + BatchNorm folded into one convolution with a bias, then SiLU as x * sigmoid(x).</summary>
        private string Conv(Conv conv, string x)
        {
            var (weight, bias) = FoldBatchNorm(conv.Convolution, conv.BatchNorm);
            var convolved = Conv2d(conv.Convolution, x, weight, bias);
            return builder.Op("Mul", convolved, builder.Op("Sigmoid", convolved));
        }

        private string Conv2d(Conv2d conv, string x, Tensor weight, Tensor bias)
        {
            var kernel = conv.kernel_size;
            var padding = conv.padding?.ToArray() ?? [0, 0];
            return builder.Op(
                "Conv",
                [x, Weight(weight), Weight(bias)],
                ("kernel_shape", new[] { kernel[0], kernel[1] }),
                ("strides", new[] { conv.stride[0], conv.stride[1] }),
                ("pads", new[] { padding[0], padding[1], padding[0], padding[1] }),
                ("group", conv.groups));
        }

        private string C2f(C2f block, string x)
        {
            var first = Conv(block.Cv1, x);
            var half = block.Cv1.Convolution.out_channels / 2;
            var pieces = builder.Op("Split", [first, builder.Constant([half, half], 2)], 2, ("axis", 1L)).ToList();
            foreach (var bottleneck in block.Blocks)
            {
                var hidden = Conv(bottleneck.Cv2, Conv(bottleneck.Cv1, pieces[^1]));
                pieces.Add(bottleneck.Residual ? builder.Op("Add", pieces[^1], hidden) : hidden);
            }

            return Conv(block.Cv2, Concat([.. pieces]));
        }

        private string Sppf(SPPF block, string x)
        {
            var k = block.Kernel;
            var pieces = new List<string> { Conv(block.Cv1, x) };
            for (var i = 0; i < 3; i++)
            {
                pieces.Add(builder.Op("MaxPool", [pieces[^1]], ("kernel_shape", new[] { k, k }), ("strides", new[] { 1L, 1L }), ("pads", new[] { k / 2, k / 2, k / 2, k / 2 })));
            }

            return Conv(block.Cv2, Concat([.. pieces]));
        }

        /// <summary>Detect in inference form: raw levels, DFL, distances to boxes around the anchors, sigmoid.</summary>
        private string Head(Detect head, string[] features, int imageSize)
        {
            var outputs = head.Outputs;
            var levels = new List<string>();
            for (var i = 0; i < features.Length; i++)
            {
                var box = Branch(head.BoxBranch(i), features[i]);
                var cls = Branch(head.ClassBranch(i), features[i]);
                levels.Add(builder.Op("Reshape", Concat(box, cls), builder.Constant([0L, outputs, -1], 3)));
            }

            var all = builder.Op("Concat", [.. levels], ("axis", 2L)); // [B, no, A]
            var split = builder.Op("Split", [all, builder.Constant([4L * Detect.RegMax, head.Classes], 2)], 2, ("axis", 1L));

            // DFL: [B, 64, A] -> [B, 4, 16, A] -> softmax over the 16 bins -> expected bin.
            var bins = builder.Op("Transpose", [builder.Op("Reshape", split[0], builder.Constant([0L, 4, Detect.RegMax, -1], 4))], ("perm", new long[] { 0, 2, 1, 3 }));
            var probabilities = builder.Op("Softmax", [bins], ("axis", 1L));
            var distances = builder.Op("Reshape", builder.Op("Conv", probabilities, Weight(Scalars.Range(Detect.RegMax, float32, CPU).view(1, Detect.RegMax, 1, 1))), builder.Constant([0L, 4, -1], 3));

            var sizes = new[] { 8, 16, 32 }.Select(s => ((long)imageSize / s, (long)imageSize / s)).ToArray();
            var (points, strides) = Tal.MakeAnchors(sizes, head.Strides, CPU);
            using (points)
            using (strides)
            {
                var anchors = Weight(points.transpose(0, 1).unsqueeze(0).contiguous()); // [1, 2, A]
                var leftTop = builder.Slice(distances, 0, 2, 1);
                var rightBottom = builder.Slice(distances, 2, 4, 1);
                var topLeft = builder.Op("Sub", anchors, leftTop);
                var bottomRight = builder.Op("Add", anchors, rightBottom);
                var centre = builder.Op("Div", builder.Op("Add", topLeft, bottomRight), builder.Scalar(2f));
                var size = builder.Op("Sub", bottomRight, topLeft);
                var boxes = builder.Op("Mul", Concat(centre, size), Weight(strides.transpose(0, 1).unsqueeze(0).contiguous()));
                return Concat(boxes, builder.Op("Sigmoid", split[1]));
            }
        }

        private string Branch(Sequential branch, string x)
        {
            var h = Conv((Conv)branch[0], x);
            h = Conv((Conv)branch[1], h);
            var last = (Conv2d)branch[2];
            return Conv2d(last, h, last.weight!, last.bias!);
        }

        private static (Tensor Weight, Tensor Bias) FoldBatchNorm(Conv2d conv, Nn.Modules.BatchNorm2d bn)
        {
            var scale = bn.Weight / bn.RunningVar.Plus(bn.Eps).sqrt();
            var weight = conv.weight! * scale.view(-1, 1, 1, 1);
            var bias = bn.Bias - (bn.RunningMean * scale);
            return (weight, bias);
        }

        private string Weight(Tensor tensor)
        {
            using var cpu = tensor.detach().cpu().contiguous().to(float32);
            var values = cpu.data<float>().ToArray();
            return builder.AddInitializer(GraphBuilder.FloatTensor($"w{_weights++}", values, cpu.shape));
        }
    }
}

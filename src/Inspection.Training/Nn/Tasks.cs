using Inspection.Training.Nn.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Nn;

/// <summary>A YOLOv8 model scale: depth and width multipliers and the channel cap (Ultralytics' yolov8.yaml scales).</summary>
public sealed record ModelScale(string Name, double Depth, double Width, int MaxChannels)
{
    public static readonly ModelScale N = new("n", 0.33, 0.25, 1024);
    public static readonly ModelScale S = new("s", 0.33, 0.50, 1024);

    public static ModelScale Parse(string name) => name.ToLowerInvariant() switch
    {
        "n" => N,
        "s" => S,
        _ => throw new Core.InspectionInputException($"--model '{name}' is not a known scale; use n or s."),
    };

    /// <summary>Repeats of a block: max(round(n x depth), 1).</summary>
    public int Repeats(int n) => n > 1 ? Math.Max((int)Math.Round(n * Depth, MidpointRounding.ToEven), 1) : n;

    /// <summary>Channels of a layer: min(c, cap) x width, rounded up to a multiple of 8 (make_divisible).</summary>
    public long Channels(int c) => (long)(Math.Ceiling(Math.Min(c, MaxChannels) * Width / 8) * 8);
}

/// <summary>
/// The YOLOv8 detector (Ultralytics' DetectionModel built from yolov8.yaml): backbone of Conv and C2f with
/// SPPF, a PAN neck, and the Detect head at strides 8, 16, 32. The layers live in "model.0" .. "model.22",
/// so parameter names match Ultralytics' state-dict keys.
/// </summary>
public sealed class DetectionModel : nn.Module<Tensor, Tensor[]>
{
    private readonly ModuleList<nn.Module> _model;
    private readonly nn.Module<Tensor, Tensor>[] _layers;
    private readonly Detect _detect;

    public DetectionModel(ModelScale scale, IReadOnlyList<string> names)
        : base(nameof(DetectionModel))
    {
        Scale = scale;
        Names = names;
        var c = scale.Channels;
        var n = scale.Repeats;
        long p3 = c(256), p4 = c(512), p5 = c(1024);
        _layers =
        [
            new Conv(3, c(64), 3, 2),                       // 0  P1/2
            new Conv(c(64), c(128), 3, 2),                  // 1  P2/4
            new C2f(c(128), c(128), n(3), shortcut: true),  // 2
            new Conv(c(128), p3, 3, 2),                     // 3  P3/8
            new C2f(p3, p3, n(6), shortcut: true),          // 4
            new Conv(p3, p4, 3, 2),                         // 5  P4/16
            new C2f(p4, p4, n(6), shortcut: true),          // 6
            new Conv(p4, p5, 3, 2),                         // 7  P5/32
            new C2f(p5, p5, n(3), shortcut: true),          // 8
            new SPPF(p5, p5, 5),                            // 9
            new Upsample(),                                 // 10
            new Concat(),                                   // 11 with 6
            new C2f(p5 + p4, p4, n(3)),                     // 12
            new Upsample(),                                 // 13
            new Concat(),                                   // 14 with 4
            new C2f(p4 + p3, p3, n(3)),                     // 15 P3 out
            new Conv(p3, p3, 3, 2),                         // 16
            new Concat(),                                   // 17 with 12
            new C2f(p3 + p4, p4, n(3)),                     // 18 P4 out
            new Conv(p4, p4, 3, 2),                         // 19
            new Concat(),                                   // 20 with 9
            new C2f(p4 + p5, p5, n(3)),                     // 21 P5 out
        ];
        _detect = new Detect(names.Count, [p3, p4, p5]);
        _model = nn.ModuleList<nn.Module>([.. _layers, _detect]);
        register_module("model", _model);
        _detect.InitializeBiases();
    }

    public ModelScale Scale { get; }

    public IReadOnlyList<string> Names { get; }

    public Detect Head => _detect;

    /// <summary>Layers 0-21 in Ultralytics' order (placeholders at the Upsample and Concat positions).</summary>
    internal IReadOnlyList<nn.Module<Tensor, Tensor>> Layers => _layers;

    /// <summary>The largest stride: input sizes must be multiples of it.</summary>
    public int MaxStride => 32;

    /// <summary>Raw head outputs per level, [B, 64 + classes, H/s, W/s] for s = 8, 16, 32.</summary>
    public override Tensor[] forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = new Tensor[22];
        var h = x;
        for (var i = 0; i < 22; i++)
        {
            h = i switch
            {
                11 => cat([h, y[6]], 1),
                14 => cat([h, y[4]], 1),
                17 => cat([h, y[12]], 1),
                20 => cat([h, y[9]], 1),
                _ => _layers[i].forward(h),
            };
            y[i] = h;
        }

        var outputs = _detect.forward([y[15], y[18], y[21]]);
        foreach (var output in outputs)
        {
            output.MoveToOuterDisposeScope();
        }

        return outputs;
    }

    /// <summary>The export layout [B, 4 + classes, anchors]: what the ONNX model outputs.</summary>
    public Tensor Predict(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _detect.Decode(forward(x)).MoveToOuterDisposeScope();
    }

    /// <summary>Nearest-neighbour upsampling by 2 (nn.Upsample(None, 2, "nearest")).</summary>
    private sealed class Upsample() : nn.Module<Tensor, Tensor>(nameof(Upsample))
    {
        public override Tensor forward(Tensor x) => nn.functional.interpolate(x, scale_factor: [2, 2], mode: InterpolationMode.Nearest);
    }

    /// <summary>A placeholder keeping layer numbers aligned with Ultralytics'; the model concatenates itself.</summary>
    private sealed class Concat() : nn.Module<Tensor, Tensor>(nameof(Concat))
    {
        public override Tensor forward(Tensor x) => throw new InvalidOperationException("Concat joins several inputs; DetectionModel.forward does it.");
    }
}

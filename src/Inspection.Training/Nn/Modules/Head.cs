using Inspection.Training.Utils;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Nn.Modules;

/// <summary>
/// The decoupled, anchor-free YOLOv8 detection head (Ultralytics' Detect, nn/modules/head.py): per level a box
/// branch (cv2: 4 x reg_max distance logits) and a class branch (cv3: class logits).
/// </summary>
public sealed class Detect : nn.Module<Tensor[], Tensor[]>
{
    public const int RegMax = 16;

    private readonly ModuleList<Sequential> _cv2;
    private readonly ModuleList<Sequential> _cv3;
    private readonly DFL _dfl;

    public Detect(int classes, IReadOnlyList<long> channels)
        : base(nameof(Detect))
    {
        Classes = classes;
        var boxChannels = Math.Max(Math.Max(16, channels[0] / 4), RegMax * 4);
        var classChannels = Math.Max(channels[0], Math.Min(classes, 100));
        _cv2 = nn.ModuleList(channels.Select(c => nn.Sequential(new Conv(c, boxChannels, 3), new Conv(boxChannels, boxChannels, 3), nn.Conv2d(boxChannels, 4 * RegMax, 1))).ToArray());
        _cv3 = nn.ModuleList(channels.Select(c => nn.Sequential(new Conv(c, classChannels, 3), new Conv(classChannels, classChannels, 3), nn.Conv2d(classChannels, classes, 1))).ToArray());
        _dfl = new DFL(RegMax);
        register_module("cv2", _cv2);
        register_module("cv3", _cv3);
        register_module("dfl", _dfl);
    }

    public int Classes { get; }

    /// <summary>Outputs per anchor: 4 x reg_max box logits and the class logits.</summary>
    public int Outputs => Classes + (4 * RegMax);

    /// <summary>The strides of the levels, set by the model that owns the head.</summary>
    public float[] Strides { get; set; } = [8, 16, 32];

    /// <summary>Raw [B, 4 x reg_max + classes, H, W] per level: what the loss trains on.</summary>
    public override Tensor[] forward(Tensor[] features) =>
        features.Select((x, i) =>
        {
            using var box = ((nn.Module<Tensor, Tensor>)_cv2[i]).forward(x);
            using var cls = ((nn.Module<Tensor, Tensor>)_cv3[i]).forward(x);
            return cat([box, cls], 1);
        }).ToArray();

    /// <summary>Decodes raw outputs to Ultralytics' export layout [B, 4 + classes, anchors]: cx, cy, w, h in pixels, class probabilities.</summary>
    public Tensor Decode(Tensor[] raw)
    {
        using var scope = NewDisposeScope();
        var batch = raw[0].shape[0];
        var all = cat(raw.Select(x => x.view(batch, Outputs, -1)).ToArray(), 2);
        var (anchors, strides) = Tal.MakeAnchors(raw.Select(x => (x.shape[2], x.shape[3])).ToArray(), Strides, all.device);
        var parts = all.split([4 * RegMax, Classes], 1);
        var boxes = Tal.Dist2Bbox(_dfl.forward(parts[0]), anchors.transpose(0, 1).unsqueeze(0), xywh: true, dim: 1) * strides.transpose(0, 1);
        return cat([boxes, parts[1].sigmoid()], 1).MoveToOuterDisposeScope();
    }

    /// <summary>Ultralytics' bias_init: box logits start at 1, class logits at the prior of 5 objects per 640 image.</summary>
    public void InitializeBiases()
    {
        using var guard = no_grad();
        for (var i = 0; i < Strides.Length; i++)
        {
            ((Conv2d)_cv2[i][2]).bias!.fill_(Scalars.One);
            ((Conv2d)_cv3[i][2]).bias!.fill_(Scalars.Of(Math.Log(5.0 / Classes / Math.Pow(640 / Strides[i], 2))));
        }
    }

    /// <summary>The DFL integral, for the loss.</summary>
    internal DFL Dfl => _dfl;

    /// <summary>Level i's box branch: Conv, Conv, Conv2d.</summary>
    internal Sequential BoxBranch(int level) => _cv2[level];

    internal Sequential ClassBranch(int level) => _cv3[level];
}

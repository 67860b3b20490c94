using Inspection.Training.Utils;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Nn.Modules;

/// <summary>Two 3x3 Convs with an optional residual: Ultralytics' Bottleneck (nn/modules/block.py).</summary>
public sealed class Bottleneck : nn.Module<Tensor, Tensor>
{
    private readonly Conv _cv1;
    private readonly Conv _cv2;
    private readonly bool _add;

    public Bottleneck(long inChannels, long outChannels, bool shortcut, double expansion = 1.0)
        : base(nameof(Bottleneck))
    {
        var hidden = (long)(outChannels * expansion);
        _cv1 = new Conv(inChannels, hidden, 3);
        _cv2 = new Conv(hidden, outChannels, 3);
        _add = shortcut && inChannels == outChannels;
        register_module("cv1", _cv1);
        register_module("cv2", _cv2);
    }

    internal Conv Cv1 => _cv1;

    internal Conv Cv2 => _cv2;

    internal bool Residual => _add;

    public override Tensor forward(Tensor x)
    {
        using var hidden = _cv1.forward(x);
        var y = _cv2.forward(hidden);
        if (!_add)
        {
            return y;
        }

        using (y)
        {
            return x.Plus(y);
        }
    }
}

/// <summary>
/// CSP bottleneck with two convolutions, the faster variant: Ultralytics' C2f. The first Conv's output is split
/// in two; each Bottleneck works on the last piece, and every piece is concatenated for the second Conv.
/// </summary>
public sealed class C2f : nn.Module<Tensor, Tensor>
{
    private readonly Conv _cv1;
    private readonly Conv _cv2;
    private readonly ModuleList<Bottleneck> _m;

    public C2f(long inChannels, long outChannels, int repeats, bool shortcut = false, double expansion = 0.5)
        : base(nameof(C2f))
    {
        var hidden = (long)(outChannels * expansion);
        _cv1 = new Conv(inChannels, 2 * hidden, 1);
        _cv2 = new Conv((2 + repeats) * hidden, outChannels, 1);
        _m = nn.ModuleList(Enumerable.Range(0, repeats).Select(_ => new Bottleneck(hidden, hidden, shortcut)).ToArray());
        register_module("cv1", _cv1);
        register_module("cv2", _cv2);
        register_module("m", _m);
    }

    internal Conv Cv1 => _cv1;

    internal Conv Cv2 => _cv2;

    internal IEnumerable<Bottleneck> Blocks => _m;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var pieces = _cv1.forward(x).chunk(2, 1).ToList();
        foreach (var bottleneck in _m)
        {
            pieces.Add(bottleneck.forward(pieces[^1]));
        }

        return _cv2.forward(cat(pieces, 1)).MoveToOuterDisposeScope();
    }
}

/// <summary>Spatial pyramid pooling, fast: three chained 5x5 max pools (Ultralytics' SPPF).</summary>
public sealed class SPPF : nn.Module<Tensor, Tensor>
{
    private readonly Conv _cv1;
    private readonly Conv _cv2;
    private readonly MaxPool2d _m;

    public SPPF(long inChannels, long outChannels, long kernel = 5)
        : base(nameof(SPPF))
    {
        var hidden = inChannels / 2;
        _cv1 = new Conv(inChannels, hidden, 1);
        _cv2 = new Conv(hidden * 4, outChannels, 1);
        _m = nn.MaxPool2d(kernel, 1, kernel / 2);
        register_module("cv1", _cv1);
        register_module("cv2", _cv2);
        register_module("m", _m);
    }

    internal Conv Cv1 => _cv1;

    internal Conv Cv2 => _cv2;

    internal long Kernel => _m.kernel_size[0];

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = new List<Tensor> { _cv1.forward(x) };
        for (var i = 0; i < 3; i++)
        {
            y.Add(_m.forward(y[^1]));
        }

        return _cv2.forward(cat(y, 1)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Distribution focal loss integral (Ultralytics' DFL): turns reg_max logits per box side into the expected
/// distance, as a fixed 1x1 convolution with weights 0..reg_max-1 over their softmax.
/// </summary>
public sealed class DFL : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv;
    private readonly long _bins;

    public DFL(long bins = 16)
        : base(nameof(DFL))
    {
        _bins = bins;
        _conv = nn.Conv2d(bins, 1, 1, bias: false);
        using (NewDisposeScope()) // the temporaries stay referenced through the copy
        using (no_grad())
        {
            _conv.weight!.copy_(Scalars.Range(bins, float32, CPU).view(1, bins, 1, 1));
        }

        _conv.weight!.requires_grad = false;
        register_module("conv", _conv);
    }

    /// <summary>[B, 4 * bins, A] logits to [B, 4, A] distances in grid units.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (batch, anchors) = (x.shape[0], x.shape[2]);
        var probabilities = x.view(batch, 4, _bins, anchors).transpose(2, 1).softmax(1);
        return _conv.forward(probabilities).view(batch, 4, anchors).MoveToOuterDisposeScope();
    }
}

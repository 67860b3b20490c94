using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Nn.Modules;

/// <summary>Convolution, batch norm, SiLU: Ultralytics' Conv (nn/modules/conv.py), with its parameter names conv.* and bn.*.</summary>
public sealed class Conv : nn.Module<Tensor, Tensor>
{
    /// <summary>Ultralytics' BatchNorm2d settings for every Conv.</summary>
    public const double BatchNormEps = 1e-3;
    public const double BatchNormMomentum = 0.03;

    private readonly Conv2d _conv;
    private readonly BatchNorm2d _bn;

    public Conv(long inChannels, long outChannels, long kernel = 1, long stride = 1, long groups = 1)
        : base(nameof(Conv))
    {
        _conv = nn.Conv2d(inChannels, outChannels, kernel, stride, padding: kernel / 2, groups: groups, bias: false);
        _bn = new BatchNorm2d(outChannels, BatchNormEps, BatchNormMomentum);
        register_module("conv", _conv);
        register_module("bn", _bn);
    }

    public Conv2d Convolution => _conv;

    public BatchNorm2d BatchNorm => _bn;

    public override Tensor forward(Tensor x)
    {
        using var convolved = _conv.forward(x);
        using var normalised = _bn.forward(convolved);
        return nn.functional.silu(normalised);
    }
}

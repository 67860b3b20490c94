using Inspection.Training.Utils;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Inspection.Training.Nn.Modules;

/// <summary>
/// torch.nn.BatchNorm2d with its parameter and buffer names (weight, bias, running_mean, running_var,
/// num_batches_tracked). TorchSharp's own counts batches with a scalar the collector may free mid-call (see
/// <see cref="Scalars"/>); this one counts with a kept scalar and otherwise calls the same functional batch_norm.
/// </summary>
public sealed class BatchNorm2d : nn.Module<Tensor, Tensor>
{
    // TorchSharp's Module.to() swaps moved tensors into fields by these names.
    [ComponentName(Name = "weight")]
    private readonly Parameter _weight;

    [ComponentName(Name = "bias")]
    private readonly Parameter _bias;

    [ComponentName(Name = "running_mean")]
    private readonly Tensor _runningMean;

    [ComponentName(Name = "running_var")]
    private readonly Tensor _runningVar;

    [ComponentName(Name = "num_batches_tracked")]
    private readonly Tensor _batchesTracked;

    public BatchNorm2d(long features, double eps, double momentum)
        : base(nameof(BatchNorm2d))
    {
        (Eps, Momentum) = (eps, momentum);
        _weight = new Parameter(ones(features));
        _bias = new Parameter(zeros(features));
        _runningMean = zeros(features);
        _runningVar = ones(features);
        _batchesTracked = zeros(Array.Empty<long>(), dtype: int64);
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
        register_buffer("running_mean", _runningMean);
        register_buffer("running_var", _runningVar);
        register_buffer("num_batches_tracked", _batchesTracked);
    }

    /// <summary>Settable so that a checkpoint's own settings are kept when its weights are transferred.</summary>
    public double Eps { get; set; }

    public double Momentum { get; set; }

    public Parameter Weight => _weight;

    public Parameter Bias => _bias;

    public Tensor RunningMean => _runningMean;

    public Tensor RunningVar => _runningVar;

    public override Tensor forward(Tensor input)
    {
        if (training)
        {
            using var guard = no_grad();
            _batchesTracked.add_(Scalars.Of(1L), Scalars.Of(1L));
        }

        return nn.functional.batch_norm(input, _runningMean, _runningVar, _weight, _bias, training, Momentum, Eps);
    }
}

using Inspection.Training.Nn;
using static TorchSharp.torch;

namespace Inspection.Training.Engine;

/// <summary>
/// An exponential moving average of the model's weights (Ultralytics' ModelEMA, utils/torch_utils.py): decay
/// 0.9999 ramped up over the first ~2000 updates, applied to floating-point parameters and buffers. Validation
/// and export use the average, which is steadier than the raw weights.
/// </summary>
public sealed class ModelEma : IDisposable
{
    private readonly double _decay;
    private readonly double _tau;

    public ModelEma(DetectionModel model, Func<DetectionModel> create, double decay = 0.9999, double tau = 2000, long updates = 0)
    {
        Model = create();
        Model.load_state_dict(model.state_dict());
        Model.eval();
        foreach (var parameter in Model.parameters())
        {
            parameter.requires_grad = false;
        }

        (_decay, _tau, Updates) = (decay, tau, updates);
    }

    public DetectionModel Model { get; }

    public long Updates { get; private set; }

    public void Update(DetectionModel model)
    {
        Updates++;
        var d = _decay * (1 - Math.Exp(-Updates / _tau));
        using var guard = no_grad();
        using var scope = NewDisposeScope(); // the wrappers made here are released here, whatever scope the caller runs in

        var weight = tensor((float)(1 - d));
        var sources = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(model.named_buffers()).ToDictionary(p => p.Item1, p => p.Item2);
        foreach (var (name, average) in Model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(Model.named_buffers()))
        {
            if (average.dtype == ScalarType.Float32 && sources[name].dtype == ScalarType.Float32)
            {
                average.lerp_(sources[name], weight); // d x average + (1 - d) x current
            }
        }
    }

    public void Dispose() => Model.Dispose();
}

using Inspection.Core;
using Inspection.Training.Utils;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Engine;

/// <summary>Parameters that share a learning rate, momentum and weight decay (a torch.optim param_group).</summary>
public sealed class ParameterGroup(IReadOnlyList<Parameter> parameters, double learningRate, double momentum, double weightDecay)
{
    public IReadOnlyList<Parameter> Parameters { get; } = parameters;
    public double InitialLearningRate { get; } = learningRate;
    public double LearningRate { get; set; } = learningRate;

    /// <summary>SGD's momentum, or AdamW's beta1.</summary>
    public double Momentum { get; set; } = momentum;
    public double WeightDecay { get; } = weightDecay;
}

/// <summary>
/// The optimisers Ultralytics' build_optimizer picks, written here rather than taken from TorchSharp because
/// TorchSharp's step() passes short-lived scalars to libtorch (see <see cref="Scalars"/>). The updates are
/// torch.optim's; the per-parameter buffers are saved and loaded for --resume.
/// </summary>
public abstract class Optimizer(IReadOnlyList<ParameterGroup> groups) : IDisposable
{
    private readonly Dictionary<Parameter, Tensor[]> _state = new(ReferenceEqualityComparer.Instance);

    public IReadOnlyList<ParameterGroup> Groups { get; } = groups;

    protected long Steps { get; private set; }

    /// <summary>How many buffers each parameter keeps.</summary>
    protected abstract int BuffersPerParameter { get; }

    public void Step()
    {
        using var guard = no_grad();
        using var scope = NewDisposeScope();
        Steps++;
        foreach (var group in Groups)
        {
            foreach (var parameter in group.Parameters.Where(p => p.grad is not null))
            {
                Update(group, parameter, parameter.grad!, Buffers(parameter));
            }
        }
    }

    public void ZeroGrad()
    {
        foreach (var parameter in Groups.SelectMany(g => g.Parameters))
        {
            parameter.grad?.zero_();
        }
    }

    /// <summary>The step count and every parameter's buffers, in parameter order.</summary>
    public void Save(string path)
    {
        using (var writer = new BinaryWriter(File.Create(path + ".tmp")))
        {
            writer.Write(Steps);
            foreach (var parameter in Groups.SelectMany(g => g.Parameters))
            {
                foreach (var buffer in Buffers(parameter))
                {
                    buffer.Save(writer);
                }
            }
        }

        File.Move(path + ".tmp", path, overwrite: true);
    }

    public void Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"Optimizer state '{path}' does not exist; the run cannot be resumed exactly. Start it again without --resume.");
        }

        using var reader = new BinaryReader(File.OpenRead(path));
        Steps = reader.ReadInt64();
        foreach (var parameter in Groups.SelectMany(g => g.Parameters))
        {
            foreach (var buffer in Buffers(parameter))
            {
                TensorExtensionMethods.Load(buffer, reader); // in place, checking the shape
            }
        }
    }

    public void Dispose()
    {
        foreach (var buffer in _state.Values.SelectMany(b => b))
        {
            buffer.Dispose();
        }

        _state.Clear();
        GC.SuppressFinalize(this);
    }

    protected abstract void Update(ParameterGroup group, Parameter parameter, Tensor gradient, Tensor[] buffers);

    private Tensor[] Buffers(Parameter parameter)
    {
        if (!_state.TryGetValue(parameter, out var buffers))
        {
            buffers = [.. Enumerable.Range(0, BuffersPerParameter).Select(_ => zeros_like(parameter).DetachFromDisposeScope())];
            _state[parameter] = buffers;
        }

        return buffers;
    }
}

/// <summary>torch.optim.SGD with Nesterov momentum and L2 weight decay, as Ultralytics configures it.</summary>
public sealed class Sgd(IReadOnlyList<ParameterGroup> groups) : Optimizer(groups)
{
    protected override int BuffersPerParameter => 1;

    protected override void Update(ParameterGroup group, Parameter parameter, Tensor gradient, Tensor[] buffers)
    {
        using var decay = Scalars.Temporary(group.WeightDecay);
        using var momentum = Scalars.Temporary(group.Momentum);
        using var step = Scalars.Temporary(-group.LearningRate);
        var g = group.WeightDecay != 0 ? gradient.add(parameter, decay) : gradient;
        var velocity = buffers[0];
        if (Steps == 1)
        {
            velocity.copy_(g); // torch starts the buffer at the first gradient
        }
        else
        {
            velocity.mul_(momentum).add_(g, Scalars.One); // dampening 0
        }

        parameter.add_(g.add(velocity, momentum), step); // Nesterov: g + momentum x velocity
    }
}

/// <summary>torch.optim.AdamW: decoupled weight decay, bias-corrected moments; <see cref="ParameterGroup.Momentum"/> is beta1.</summary>
public sealed class AdamW(IReadOnlyList<ParameterGroup> groups, double beta2 = 0.999, double eps = 1e-8) : Optimizer(groups)
{
    protected override int BuffersPerParameter => 2;

    protected override void Update(ParameterGroup group, Parameter parameter, Tensor gradient, Tensor[] buffers)
    {
        var beta1 = group.Momentum;
        using var shrink = Scalars.Temporary(1 - (group.LearningRate * group.WeightDecay));
        using var keep1 = Scalars.Temporary(beta1);
        using var take1 = Scalars.Temporary(1 - beta1);
        using var keep2 = Scalars.Temporary(beta2);
        using var take2 = Scalars.Temporary(1 - beta2);
        using var correction2 = Scalars.Temporary(Math.Sqrt(1 - Math.Pow(beta2, Steps)));
        using var step = Scalars.Temporary(-group.LearningRate / (1 - Math.Pow(beta1, Steps)));
        var (average, averageSquare) = (buffers[0], buffers[1]);
        parameter.mul_(shrink);
        average.mul_(keep1).add_(gradient, take1);
        averageSquare.mul_(keep2).addcmul_(gradient, gradient, take2);
        var denominator = averageSquare.sqrt().div_(correction2).add_(Scalars.Of(eps), Scalars.One);
        parameter.addcdiv_(average, denominator, step);
    }
}

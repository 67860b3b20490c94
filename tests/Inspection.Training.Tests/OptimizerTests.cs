using Inspection.TestSupport;
using Inspection.Training.Engine;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

/// <summary>Our optimisers make torch.optim's updates (worked by hand here) and resume from their saved state.</summary>
public sealed class OptimizerTests
{
    [Theory]
    [InlineData(0.0, new[] { 0.905f, 0.7695f })] // buf = g; p -= lr (g + m buf); then buf = m buf + g
    [InlineData(0.1, new[] { 0.886f, 0.725566f })] // g + wd p: 0.6, then 0.5886; buf 0.6, then 1.1286
    public void Sgd_takes_nesterov_steps_with_l2_decay(double decay, float[] expected)
    {
        using var parameter = new Parameter(tensor(new[] { 1f }));
        using var optimizer = new Sgd([new ParameterGroup([parameter], 0.1, 0.9, decay)]);
        foreach (var value in expected)
        {
            StepWithGradient(optimizer, parameter, 0.5f);
            Assert.Equal(value, parameter.item<float>(), 1e-5);
        }
    }

    [Fact]
    public void AdamW_decays_the_weights_apart_from_the_bias_corrected_step()
    {
        using var parameter = new Parameter(tensor(new[] { 1f }));
        using var optimizer = new AdamW([new ParameterGroup([parameter], 0.1, 0.9, 0.01)]);
        StepWithGradient(optimizer, parameter, 0.5f);
        Assert.Equal(0.899, parameter.item<float>(), 1e-5); // 1 x (1 - 0.1 x 0.01) - 0.1 x m^ / sqrt(v^), m^ / sqrt(v^) = 0.5 / 0.5
    }

    [Fact]
    public void A_resumed_optimizer_continues_exactly_where_the_saved_one_was()
    {
        using var folder = new TempFolder();
        using var first = new Parameter(tensor(new[] { 1f, -2f }));
        using var original = new AdamW([new ParameterGroup([first], 0.05, 0.9, 0.01)]);
        StepWithGradient(original, first, 0.3f);
        StepWithGradient(original, first, -0.2f);
        original.Save(folder.File("opt"));

        using var second = new Parameter(first.detach().clone());
        using var resumed = new AdamW([new ParameterGroup([second], 0.05, 0.9, 0.01)]);
        resumed.Load(folder.File("opt"));
        StepWithGradient(original, first, 0.7f);
        StepWithGradient(resumed, second, 0.7f);
        Assert.Equal(first.data<float>().ToArray(), second.data<float>().ToArray());

        using var fresh = new AdamW([new ParameterGroup([second], 0.05, 0.9, 0.01)]); // without the state, the step differs
        StepWithGradient(fresh, second, 0.7f);
        StepWithGradient(original, first, 0.7f);
        Assert.NotEqual(first.data<float>().ToArray(), second.data<float>().ToArray());
    }

    [Fact]
    public void Resuming_without_a_saved_state_is_a_clear_error()
    {
        using var parameter = new Parameter(tensor(new[] { 1f }));
        using var optimizer = new Sgd([new ParameterGroup([parameter], 0.1, 0.9, 0)]);
        var e = Assert.Throws<Core.InspectionInputException>(() => optimizer.Load("/nonexistent/last.optimizer"));
        Assert.Contains("without --resume", e.Message);
    }

    private static void StepWithGradient(Optimizer optimizer, Parameter parameter, float gradient)
    {
        optimizer.ZeroGrad();
        (parameter * gradient).sum().backward(); // d/dp (g p) = g
        optimizer.Step();
    }
}

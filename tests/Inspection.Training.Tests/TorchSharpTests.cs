using Inspection.Training;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

/// <summary>libtorch loads on this system (the Debian 12 fix is applied by the build) and trains on the CPU.</summary>
public sealed class TorchSharpTests
{
    [Fact]
    public void A_small_network_trains_on_the_cpu_and_its_loss_falls()
    {
        var device = TrainingDevice.Resolve("auto", NullLogger.Instance);
        Assert.Equal(DeviceType.CPU, device.type); // no CUDA here; the same code runs on cuda where there is one
        random.manual_seed(0);
        using var model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1)).to(device);
        using var optimizer = optim.SGD(model.parameters(), 0.05);
        using var inputs = randn(16, 3, 32, 32, device: device) + 1;
        using var targets = (inputs[.., 0].mean([1, 2]) * 3) - (inputs[.., 1].mean([1, 2]) * 2) + 0.5; // learnable exactly
        using var target = targets.unsqueeze(1);

        var losses = new List<float>();
        for (var step = 0; step < 60; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(inputs), target);
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        Assert.True(losses[^1] < losses[0] * 0.5, $"loss went from {losses[0]} to {losses[^1]}");
    }

    [SkippableFact]
    public void Asking_for_cuda_without_it_is_a_clear_error()
    {
        Skip.If(cuda.is_available(), "this host has CUDA");
        var e = Assert.Throws<Core.InspectionInputException>(() => TrainingDevice.Resolve("cuda", NullLogger.Instance));
        Assert.Contains("--device cpu or auto", e.Message);
    }
}

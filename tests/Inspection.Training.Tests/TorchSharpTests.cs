using Inspection.TestSupport;
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
        Assert.True(device.type == (CudaHost ? DeviceType.CUDA : DeviceType.CPU), $"auto chose {device.type} on a host with {GpuHost.Describe()} and {(CudaBuild ? "a CUDA" : "the CPU")} build of libtorch");
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

    [Fact]
    public void Cuda_trains_where_the_host_has_it_and_is_a_clear_error_where_not()
    {
        if (!CudaHost)
        {
            var e = Assert.Throws<Core.InspectionInputException>(() => TrainingDevice.Resolve("cuda", NullLogger.Instance));
            Assert.Contains("--device cpu or auto", e.Message);
            return;
        }

        var device = TrainingDevice.Resolve("cuda:0", NullLogger.Instance);
        using var layer = nn.Conv2d(3, 4, 3).to(device);
        using var output = layer.forward(randn(2, 3, 16, 16, device: device));
        Assert.Equal(DeviceType.CUDA, output.device_type);
    }

    /// <summary>libtorch's CUDA build (-p:LibTorch=cuda) is beside the tests: it brings its own CUDA, so a GPU and its driver suffice.</summary>
    private static bool CudaBuild => File.Exists(Path.Combine(AppContext.BaseDirectory, "libtorch_cuda.so"));

    private static bool CudaHost => CudaBuild && GpuHost.HasGpu;
}

using Inspection.Core;
using Inspection.Inference;

namespace Inspection.Inference.Tests;

/// <summary>One --device syntax for train, val and detect, and what it asks of ONNX Runtime.</summary>
public sealed class DeviceChoiceTests
{
    [Theory]
    [InlineData("auto", DeviceKind.Auto, 0)]
    [InlineData("CPU", DeviceKind.Cpu, 0)]
    [InlineData("0", DeviceKind.Cuda, 0)]
    [InlineData("1", DeviceKind.Cuda, 1)]
    [InlineData("cuda", DeviceKind.Cuda, 0)]
    [InlineData("cuda:2", DeviceKind.Cuda, 2)]
    [InlineData("tensorrt", DeviceKind.TensorRt, 0)]
    [InlineData("tensorrt:1", DeviceKind.TensorRt, 1)]
    public void Parses_ultralytics_style_names(string text, DeviceKind kind, int id) =>
        Assert.Equal(new DeviceChoice(kind, id), DeviceChoice.Parse(text));

    [Theory]
    [InlineData("0,1", "names several GPUs")]
    [InlineData("cuda:0,1", "names several GPUs")]
    [InlineData("gpu", "is not one of auto, cpu, a GPU id such as 0")]
    [InlineData("cuda:x", "is not one of")]
    [InlineData("cpu:1", "is not one of")]
    [InlineData("-1", "is not one of")]
    public void Refuses_anything_else_in_one_line(string text, string expected)
    {
        var error = Assert.Throws<InspectionInputException>(() => DeviceChoice.Parse(text));
        Assert.Contains(expected, error.Message);
        Assert.Contains(text, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_named_device_is_that_provider_alone_on_that_gpu_and_auto_tries_the_best_first()
    {
        Assert.Equal([ExecutionProvider.TensorRT, ExecutionProvider.Cuda, ExecutionProvider.Cpu], new DetectorOptions().On(DeviceChoice.Parse("auto")).Providers);
        Assert.Equal([ExecutionProvider.Cpu], new DetectorOptions().On(DeviceChoice.Parse("cpu")).Providers);
        var cuda = new DetectorOptions().On(DeviceChoice.Parse("1"));
        Assert.Equal([ExecutionProvider.Cuda], cuda.Providers);
        Assert.Equal(1, cuda.DeviceId);
        var tensorRt = new DetectorOptions().On(DeviceChoice.Parse("tensorrt:0"));
        Assert.Equal([ExecutionProvider.TensorRT], tensorRt.Providers);
        Assert.Equal(0, tensorRt.DeviceId);
    }
}

using Inspection.Core;
using Inspection.TestSupport;

namespace Inspection.Inference.Tests;

/// <summary>How many batches a detector runs at once, and how the cores are shared among them.</summary>
public sealed class ConcurrentBatchesTests
{
    [Theory]
    [InlineData(ExecutionProvider.Cpu, null, null, 2, 2, 1)]
    [InlineData(ExecutionProvider.Cpu, null, null, 1, 1, 1)]
    [InlineData(ExecutionProvider.Cpu, null, null, 16, 2, 8)]
    [InlineData(ExecutionProvider.Cpu, null, null, 5, 2, 2)]
    [InlineData(ExecutionProvider.Cpu, 1, null, 2, 1, 2)]
    [InlineData(ExecutionProvider.Cpu, 4, null, 16, 4, 4)]
    [InlineData(ExecutionProvider.Cpu, 4, 3, 16, 4, 3)]
    [InlineData(ExecutionProvider.Cpu, 8, null, 2, 8, 1)]
    [InlineData(ExecutionProvider.Cuda, null, null, 16, 1, 16)]
    [InlineData(ExecutionProvider.TensorRT, 2, null, 16, 2, 8)]
    public void Batches_at_once_share_the_cores(ExecutionProvider provider, int? configured, int? threads, int cores, int expectedBatches, int expectedThreads)
    {
        var options = new DetectorOptions { ConcurrentBatches = configured, IntraOpThreads = threads };
        Assert.Equal(expectedBatches, options.ConcurrentBatchesOn(provider, cores));
        Assert.Equal(expectedThreads, options.IntraOpThreadsOn(provider, cores));
        Assert.True(options.MostConcurrentBatches >= expectedBatches, "resources sized before the provider is known must cover what runs");
    }

    /// <summary>
    /// One session run by two callers at once gives each the same detections as one caller alone: the session's
    /// buffers are per call, not shared.
    /// </summary>
    [Fact]
    public async Task Two_batches_at_once_find_what_one_at_a_time_finds()
    {
        var model = SharedData.Require("models/ultralytics-pretrained/yolov8n.onnx");
        using var bus = OpenCvSharp.Cv2.ImRead(SharedData.Require("media/bus.jpg"));
        using var zidane = OpenCvSharp.Cv2.ImRead(SharedData.Require("media/zidane.jpg"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = model, Providers = [ExecutionProvider.Cpu], ConcurrentBatches = 2 });
        Assert.Equal(2, detector.ConcurrentBatches);
        var thresholds = DetectionThresholds.Default;
        var alone = new[] { bus, zidane }.Select(m => detector.Detect(MatImage.View(m), thresholds)).ToArray();

        var together = new List<Detection>[2][];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, caller =>
        {
            var images = caller == 0 ? new[] { bus, zidane, bus } : new[] { zidane, bus, zidane };
            var results = images.Select(_ => new List<Detection>()).ToArray();
            for (var round = 0; round < 3; round++)
            {
                detector.Detect(images.Select(MatImage.View).ToArray(), results, thresholds);
            }

            together[caller] = results;
        });

        Assert.Equal(alone[0], together[0][0]);
        Assert.Equal(alone[1], together[0][1]);
        Assert.Equal(alone[1], together[1][0]);
        Assert.Equal(alone[0], together[1][1]);
        Assert.NotEmpty(alone[0]);
    }
}

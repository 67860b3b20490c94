using Inspection.Core;
using Inspection.Onnx;
using Inspection.TestSupport;

namespace Inspection.Inference.Tests;

/// <summary>Each supported output layout, from a model the project builds itself, decodes to boxes worked out by hand.</summary>
public sealed class LayoutDecodingTests : IDisposable
{
    private const int Size = SyntheticModels.ImageSize;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<OutputLayout, NmsPlacement, long> Cases()
    {
        var data = new TheoryData<OutputLayout, NmsPlacement, long>();
        foreach (var layout in Enum.GetValues<OutputLayout>())
        {
            data.Add(layout, NmsPlacement.InGraph, 17);
            data.Add(layout, NmsPlacement.Managed, 17);
        }

        data.Add(OutputLayout.AnchorFree, NmsPlacement.InGraph, 20); // the shared YOLOv8n export uses opset 20
        data.Add(OutputLayout.AnchorFree, NmsPlacement.InGraph, 10); // too old to graft: falls back to managed NMS
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Layout_decodes_to_hand_computed_boxes_in_source_pixels(OutputLayout layout, NmsPlacement nms, long opset)
    {
        var (raw, shape) = SyntheticModels.RawOutput(layout);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size, opset: opset, endToEnd: layout == OutputLayout.EndToEnd ? true : null), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu], Nms = nms });

        Assert.Equal(layout, detector.Model.Layout);
        var graftable = layout != OutputLayout.EndToEnd && opset >= NmsGraft.MinimumOpset; // end-to-end models need no NMS
        Assert.Equal(graftable ? nms : NmsPlacement.Managed, detector.Nms);
        var found = detector.Detect(SyntheticModels.Image(128, 64, 3), new DetectionThresholds(0.25f, 0.45f, 300));

        // 128x64 into 64x64: gain 0.5, 16 rows of padding above; source = (model - pad) / gain, clipped.
        AssertDetections(found, [(1, 0.9f, new(30, 18, 50, 38)), (2, 0.7f, new(32, 20, 52, 40)), (0, 0.6f, new(68, 28, 92, 64))]);
    }

    [Theory]
    [InlineData(OutputLayout.AnchorFree)]
    [InlineData(OutputLayout.Objectness)]
    [InlineData(OutputLayout.EndToEnd)]
    public async Task Dynamic_batch_runs_images_of_any_size_in_one_call(OutputLayout layout)
    {
        var (raw, shape) = SyntheticModels.RawOutput(layout);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size, batch: null, endToEnd: layout == OutputLayout.EndToEnd ? true : null), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        Assert.Null(detector.FixedBatch);

        ImageView[] images = [SyntheticModels.Image(128, 64, 3), SyntheticModels.Image(64, 64, 1), SyntheticModels.Image(32, 64, 4)];
        List<Detection>[] results = [[], [], []];
        detector.Detect(images, results, DetectionThresholds.Default);

        AssertDetections(results[0], [(1, 0.9f, new(30, 18, 50, 38)), (2, 0.7f, new(32, 20, 52, 40)), (0, 0.6f, new(68, 28, 92, 64))]);
        AssertDetections(results[1], [(1, 0.9f, new(15, 25, 25, 35)), (2, 0.7f, new(16, 26, 26, 36)), (0, 0.6f, new(34, 30, 46, 50))]);

        // 32x64 into 64x64: gain 1, 16 columns of padding on the left.
        AssertDetections(results[2], [(1, 0.9f, new(0, 25, 9, 35)), (2, 0.7f, new(0, 26, 10, 36)), (0, 0.6f, new(18, 30, 30, 50))]);
    }

    [Fact]
    public async Task A_fixed_batch_model_takes_its_batch_per_call_and_pads_the_last_one()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size, batch: 2), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        Assert.Equal(2, detector.FixedBatch);

        ImageView[] images = [SyntheticModels.Image(64, 64, 3), SyntheticModels.Image(128, 64, 3), SyntheticModels.Image(64, 64, 1)];
        List<Detection>[] results = [[], [], []];
        detector.Detect(images, results, DetectionThresholds.Default);

        AssertDetections(results[0], [(1, 0.9f, new(15, 25, 25, 35)), (2, 0.7f, new(16, 26, 26, 36)), (0, 0.6f, new(34, 30, 46, 50))]);
        AssertDetections(results[1], [(1, 0.9f, new(30, 18, 50, 38)), (2, 0.7f, new(32, 20, 52, 40)), (0, 0.6f, new(68, 28, 92, 64))]);
        AssertDetections(results[2], [(1, 0.9f, new(15, 25, 25, 35)), (2, 0.7f, new(16, 26, 26, 36)), (0, 0.6f, new(34, 30, 46, 50))]);
    }

    [Fact]
    public async Task Thresholds_change_per_call_without_reloading()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        var image = SyntheticModels.Image(64, 64, 3);

        Assert.Equal(3, detector.Detect(image, new DetectionThresholds(0.25f, 0.45f, 300)).Count);
        Assert.Equal(4, detector.Detect(image, new DetectionThresholds(0.05f, 0.45f, 300)).Count); // D appears
        Assert.Equal(4, detector.Detect(image, new DetectionThresholds(0.25f, 0.75f, 300)).Count); // B no longer suppressed
        Assert.Equal(2, detector.Detect(image, new DetectionThresholds(0.25f, 0.45f, 2)).Count);
        Assert.Equal(3, detector.Detect(image, new DetectionThresholds(0.25f, 0.45f, 300)).Count);
    }

    [Fact]
    public async Task An_image_with_nothing_above_the_threshold_gives_no_detections()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size, batch: null), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        List<Detection>[] results = [[], []];
        detector.Detect([SyntheticModels.Image(64, 64, 3), SyntheticModels.Image(64, 64, 3)], results, new DetectionThresholds(0.95f, 0.45f, 300));
        Assert.All(results, Assert.Empty);
    }

    private static void AssertDetections(List<Detection> actual, (int Class, float Score, BoundingBox Box)[] expected)
    {
        Assert.Equal(expected.Length, actual.Count);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Class, actual[i].ClassId);
            Assert.Equal(expected[i].Score, actual[i].Score, 4);
            Assert.True(
                Math.Abs(expected[i].Box.X1 - actual[i].Box.X1) < 1e-3 && Math.Abs(expected[i].Box.Y1 - actual[i].Box.Y1) < 1e-3 &&
                Math.Abs(expected[i].Box.X2 - actual[i].Box.X2) < 1e-3 && Math.Abs(expected[i].Box.Y2 - actual[i].Box.Y2) < 1e-3,
                $"detection {i}: expected {expected[i].Box}, got {actual[i].Box}");
        }
    }
}

using Inspection.Core;
using Inspection.Onnx;
using Inspection.TestSupport;

namespace Inspection.Inference.Tests;

/// <summary>Each supported output layout, from a model the project builds itself, decodes to boxes worked out by hand.</summary>
public sealed class LayoutDecodingTests : IDisposable
{
    private const int Size = 64;
    private const int Anchors = 84; // 8x8 + 4x4 + 2x2 anchor points at strides 8, 16, 32 on 64x64

    // (cx, cy, w, h, class, score) in model pixels. B overlaps A in A's class and is suppressed (IoU 0.68);
    // C is the same box as B in another class and stays; D is below the confidence threshold.
    private static readonly (float Cx, float Cy, float W, float H, int Class, float Score)[] Boxes =
    [
        (20, 30, 10, 10, 1, 0.9f), // A
        (21, 31, 10, 10, 1, 0.8f), // B
        (21, 31, 10, 10, 2, 0.7f), // C
        (50, 40, 8, 6, 0, 0.1f),   // D
        (40, 40, 12, 20, 0, 0.6f), // E
    ];

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

        data.Add(OutputLayout.AnchorFree, NmsPlacement.InGraph, 20); // ReduceMax takes axes as an input from opset 18
        data.Add(OutputLayout.AnchorFree, NmsPlacement.InGraph, 10); // too old to graft: falls back to managed NMS
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Layout_decodes_to_hand_computed_boxes_in_source_pixels(OutputLayout layout, NmsPlacement nms, long opset)
    {
        var (raw, shape) = RawOutput(layout);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size, opset: opset, endToEnd: layout == OutputLayout.EndToEnd ? true : null), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu], Nms = nms });

        Assert.Equal(layout, detector.Model.Layout);
        var graftable = layout != OutputLayout.EndToEnd && opset >= NmsGraft.MinimumOpset; // end-to-end models need no NMS
        Assert.Equal(graftable ? nms : NmsPlacement.Managed, detector.Nms);
        var found = detector.Detect(Image(128, 64, 3), new DetectionThresholds(0.25f, 0.45f, 300));

        // 128x64 into 64x64: gain 0.5, 16 rows of padding above; source = (model - pad) / gain, clipped.
        AssertDetections(found, [(1, 0.9f, new(30, 18, 50, 38)), (2, 0.7f, new(32, 20, 52, 40)), (0, 0.6f, new(68, 28, 92, 64))]);
    }

    [Theory]
    [InlineData(OutputLayout.AnchorFree)]
    [InlineData(OutputLayout.Objectness)]
    [InlineData(OutputLayout.EndToEnd)]
    public async Task Dynamic_batch_runs_images_of_any_size_in_one_call(OutputLayout layout)
    {
        var (raw, shape) = RawOutput(layout);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size, dynamicBatch: true, endToEnd: layout == OutputLayout.EndToEnd ? true : null), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        Assert.Null(detector.FixedBatch);

        ImageView[] images = [Image(128, 64, 3), Image(64, 64, 1), Image(32, 64, 4)];
        List<Detection>[] results = [[], [], []];
        detector.Detect(images, results, DetectionThresholds.Default);

        AssertDetections(results[0], [(1, 0.9f, new(30, 18, 50, 38)), (2, 0.7f, new(32, 20, 52, 40)), (0, 0.6f, new(68, 28, 92, 64))]);
        AssertDetections(results[1], [(1, 0.9f, new(15, 25, 25, 35)), (2, 0.7f, new(16, 26, 26, 36)), (0, 0.6f, new(34, 30, 46, 50))]);

        // 32x64 into 64x64: gain 1, 16 columns of padding on the left.
        AssertDetections(results[2], [(1, 0.9f, new(0, 25, 9, 35)), (2, 0.7f, new(0, 26, 10, 36)), (0, 0.6f, new(18, 30, 30, 50))]);
    }

    [Fact]
    public async Task Thresholds_change_per_call_without_reloading()
    {
        var (raw, shape) = RawOutput(OutputLayout.AnchorFree);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        var image = Image(64, 64, 3);

        Assert.Equal(3, detector.Detect(image, new DetectionThresholds(0.25f, 0.45f, 300)).Count);
        Assert.Equal(4, detector.Detect(image, new DetectionThresholds(0.05f, 0.45f, 300)).Count); // D appears
        Assert.Equal(4, detector.Detect(image, new DetectionThresholds(0.25f, 0.75f, 300)).Count); // B no longer suppressed
        Assert.Equal(2, detector.Detect(image, new DetectionThresholds(0.25f, 0.45f, 2)).Count);
        Assert.Equal(3, detector.Detect(image, new DetectionThresholds(0.25f, 0.45f, 300)).Count);
    }

    [Fact]
    public async Task An_image_with_nothing_above_the_threshold_gives_no_detections()
    {
        var (raw, shape) = RawOutput(OutputLayout.AnchorFree);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, Size, dynamicBatch: true), _folder.File("m.onnx"));
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        List<Detection>[] results = [[], []];
        detector.Detect([Image(64, 64, 3), Image(64, 64, 3)], results, new DetectionThresholds(0.95f, 0.45f, 300));
        Assert.All(results, Assert.Empty);
    }

    internal static (float[] Raw, long[] Shape) RawOutput(OutputLayout layout)
    {
        var classes = SyntheticModels.ClassNames.Length;
        switch (layout)
        {
            case OutputLayout.AnchorFree:
            {
                var raw = new float[(4 + classes) * Anchors];
                for (var i = 0; i < Boxes.Length; i++)
                {
                    var b = Boxes[i];
                    raw[i] = b.Cx;
                    raw[Anchors + i] = b.Cy;
                    raw[(2 * Anchors) + i] = b.W;
                    raw[(3 * Anchors) + i] = b.H;
                    raw[((4 + b.Class) * Anchors) + i] = b.Score;
                }

                return (raw, [1, 4 + classes, Anchors]);
            }

            case OutputLayout.Objectness:
            {
                var stride = 5 + classes;
                var raw = new float[3 * Anchors * stride];
                for (var i = 0; i < Boxes.Length; i++)
                {
                    var b = Boxes[i];
                    const float objectness = 0.95f;
                    raw[i * stride] = b.Cx;
                    raw[(i * stride) + 1] = b.Cy;
                    raw[(i * stride) + 2] = b.W;
                    raw[(i * stride) + 3] = b.H;
                    raw[(i * stride) + 4] = objectness;
                    raw[(i * stride) + 5 + b.Class] = b.Score / objectness;
                }

                return (raw, [1, 3 * Anchors, stride]);
            }

            default:
            {
                // What an end-to-end model emits: already suppressed (no B), best first, then padding rows.
                const int rows = 300;
                var raw = new float[rows * 6];
                var kept = Boxes.Where((_, i) => i != 1).OrderByDescending(b => b.Score).ToArray();
                for (var i = 0; i < kept.Length; i++)
                {
                    var b = kept[i];
                    float[] row = [b.Cx - (b.W / 2), b.Cy - (b.H / 2), b.Cx + (b.W / 2), b.Cy + (b.H / 2), b.Score, b.Class];
                    row.CopyTo(raw, i * 6);
                }

                return (raw, [1, rows, 6]);
            }
        }
    }

    internal static ImageView Image(int width, int height, int channels) =>
        new(new byte[width * height * channels], width, height, channels);

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

using Inspection.Core;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Inference.Tests;

/// <summary>Real Ultralytics and YOLOv5 exports give what their own predict paths give.</summary>
public sealed class RealModelTests
{
    public static TheoryData<string, NmsPlacement> Models() => new()
    {
        { "models/yolov8n-int8-coco", NmsPlacement.InGraph },
        { "models/yolov8n-int8-coco", NmsPlacement.Managed },
        { "models/yolov5n-neu-det", NmsPlacement.InGraph },
        { "models/yolov5n-neu-det", NmsPlacement.Managed },
    };

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public async Task Detections_match_the_reference_predictions(string modelFolder, NmsPlacement nms)
    {
        var reference = ReferenceDetections.Load(modelFolder);
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = reference.ModelPath, Providers = [ExecutionProvider.Cpu], Nms = nms });
        var thresholds = new DetectionThresholds(reference.Confidence, reference.IoU, 300);

        var problems = new List<string>();
        foreach (var (image, expected) in reference.Images)
        {
            using var mat = Cv2.ImRead(SharedData.Require(image), ImreadModes.Color);
            var found = detector.Detect(MatImage.View(mat), thresholds);
            problems.AddRange(ReferenceDetections.Compare(expected, found, detector.Model).Select(p => $"{image}: {p}"));
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [SkippableTheory]
    [InlineData("models/yolov8n-int8-coco")]
    [InlineData("models/yolov5n-neu-det")]
    public async Task Grafted_and_managed_NMS_agree_on_real_outputs(string modelFolder)
    {
        var reference = ReferenceDetections.Load(modelFolder);
        await using var grafted = YoloDetector.Open(new DetectorOptions { ModelPath = reference.ModelPath, Providers = [ExecutionProvider.Cpu] });
        await using var managed = YoloDetector.Open(new DetectorOptions { ModelPath = reference.ModelPath, Providers = [ExecutionProvider.Cpu], Nms = NmsPlacement.Managed });
        Assert.Equal(NmsPlacement.InGraph, grafted.Nms);

        // A low threshold keeps many overlapping candidates, where the two NMS implementations could drift apart.
        foreach (var thresholds in new[] { new DetectionThresholds(0.05f, 0.45f, 300), new DetectionThresholds(0.25f, 0.7f, 10) })
        {
            foreach (var image in reference.Images.Keys)
            {
                using var mat = Cv2.ImRead(SharedData.Require(image), ImreadModes.Color);
                var a = grafted.Detect(MatImage.View(mat), thresholds);
                var b = managed.Detect(MatImage.View(mat), thresholds);
                Assert.True(a.Count == b.Count, $"{image}: grafted {a.Count} vs managed {b.Count} detections at {thresholds}");
                Assert.True(a.Count > 0, $"{image}: no detections at {thresholds}");
                for (var i = 0; i < a.Count; i++)
                {
                    Assert.Equal(b[i].ClassId, a[i].ClassId);
                    Assert.Equal(b[i].Score, a[i].Score, 5);
                    Assert.True(a[i].Box.IoU(b[i].Box) > 0.999f, $"{image} #{i}: {a[i].Box} vs {b[i].Box}");
                }
            }
        }
    }

    [SkippableFact]
    public async Task Gray_and_BGRA_images_give_the_same_detections_as_BGR()
    {
        var reference = ReferenceDetections.Load("models/yolov5n-neu-det");
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = reference.ModelPath, Providers = [ExecutionProvider.Cpu] });
        var image = reference.Images.Keys.First();
        using var bgr = Cv2.ImRead(SharedData.Require(image), ImreadModes.Color);
        using var gray = bgr.CvtColor(ColorConversionCodes.BGR2GRAY);
        using var grayAsBgr = gray.CvtColor(ColorConversionCodes.GRAY2BGR);
        using var bgra = bgr.CvtColor(ColorConversionCodes.BGR2BGRA);

        var thresholds = new DetectionThresholds(0.25f, 0.45f, 300);
        Assert.Equal(detector.Detect(MatImage.View(grayAsBgr), thresholds), detector.Detect(MatImage.View(gray), thresholds));
        Assert.Equal(detector.Detect(MatImage.View(bgr), thresholds), detector.Detect(MatImage.View(bgra), thresholds));
    }

    [SkippableFact]
    public async Task Concurrent_callers_get_the_same_results_as_one_caller()
    {
        var reference = ReferenceDetections.Load("models/yolov5n-neu-det");
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = reference.ModelPath, Providers = [ExecutionProvider.Cpu] });
        var mats = reference.Images.Keys.Select(k => Cv2.ImRead(SharedData.Require(k), ImreadModes.Color)).ToArray();
        try
        {
            var thresholds = new DetectionThresholds(0.25f, 0.45f, 300);
            var expected = mats.Select(m => detector.Detect(MatImage.View(m), thresholds)).ToArray();
            var actual = new List<Detection>[mats.Length * 8];
            Parallel.For(0, actual.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => actual[i] = detector.Detect(MatImage.View(mats[i % mats.Length]), thresholds));
            for (var i = 0; i < actual.Length; i++)
            {
                Assert.Equal(expected[i % mats.Length], actual[i]);
            }
        }
        finally
        {
            foreach (var m in mats)
            {
                m.Dispose();
            }
        }
    }

    [SkippableFact]
    public async Task Steady_state_detection_allocates_no_buffers_per_frame()
    {
        var reference = ReferenceDetections.Load("models/yolov5n-neu-det");
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = reference.ModelPath, Providers = [ExecutionProvider.Cpu] });
        using var mat = Cv2.ImRead(SharedData.Require(reference.Images.Keys.First()), ImreadModes.Color);
        var images = new[] { MatImage.View(mat) };
        var results = new[] { new List<Detection>(300) };
        var thresholds = new DetectionThresholds(0.25f, 0.45f, 300);
        for (var i = 0; i < 5; i++)
        {
            detector.Detect(images, results, thresholds); // warm-up: pools fill, lists grow
        }

        // The least of three windows: something allocated once (a pool growing on a thread it had not met) lands in
        // one window, while an allocation per frame shows in all three.
        const int frames = 20;
        var perFrame = new long[3];
        for (var window = 0; window < perFrame.Length; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < frames; i++)
            {
                detector.Detect(images, results, thresholds);
            }

            perFrame[window] = (GC.GetAllocatedBytesForCurrentThread() - before) / frames;
        }

        // A 224x224 float tensor alone is 600 KB; what remains per frame (about 300 bytes) is the OpenCvSharp
        // wrapper objects around the source image for the resize call.
        Assert.True(perFrame.Min() < 512, $"bytes allocated per frame in three windows of {frames}: {string.Join(", ", perFrame)}");
    }
}

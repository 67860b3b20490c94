using Inspection.Core;
using Inspection.Inference;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Training.Tests;

/// <summary>The models in models/ load in the engine and still find what their cards say they find.</summary>
public sealed class ShippedModelTests
{
    [SkippableFact]
    public async Task The_demo_model_finds_the_cracks_in_the_test_images()
    {
        var path = Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "workpiece-crack-yolov8n-320.onnx");
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        Assert.Equal(["crack"], detector.Model.Names);
        Assert.Null(detector.FixedBatch);

        var folder = SharedData.Require("datasets/workpiece-crack/test/images");
        foreach (var image in Directory.GetFiles(folder, "*.jpg"))
        {
            var label = File.ReadAllText(Path.ChangeExtension(image, ".txt")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            using var mat = Cv2.ImRead(image);
            var truth = new BoundingBox((label[0] - (label[2] / 2)) * mat.Width, (label[1] - (label[3] / 2)) * mat.Height, (label[0] + (label[2] / 2)) * mat.Width, (label[1] + (label[3] / 2)) * mat.Height);
            var found = detector.Detect(MatImage.View(mat), new DetectionThresholds(0.25f, 0.7f, 300));
            Assert.Contains(found, d => d.Box.IoU(truth) > 0.5f);
        }
    }
}

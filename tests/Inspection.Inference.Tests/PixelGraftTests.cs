using Inspection.Core;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Inference.Tests;

/// <summary>Bytes in, converted inside the graph, find what the host's float conversion finds on real models.</summary>
public sealed class PixelGraftTests
{
    public static TheoryData<string, int> Models() => new()
    {
        { "models/yolov8n-int8-coco/yolov8n_int8.onnx", 1 },
        { "models/yolov8n-int8-coco/yolov8n_int8.onnx", 4 },
        { "models/ultralytics-pretrained/yolov8n.onnx", 1 },
        { "models/ultralytics-pretrained/yolov8n.onnx", 4 },
        { "models/yolov5n-neu-det/yolov5n-neu-det.onnx", 1 },
        { "models/yolov5n-neu-det/yolov5n-neu-det.onnx", 4 },
        { ShippedDemoModel, 1 }, // our trainer's export: a dynamic batch, so 4 images go in one call
        { ShippedDemoModel, 4 },
    };

    private const string ShippedDemoModel = "models/workpiece-crack/workpiece-crack-yolov8n-320.onnx";

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public async Task Bytes_converted_in_the_graph_give_the_detections_of_the_float_path(string model, int batch)
    {
        var path = model == ShippedDemoModel ? Path.Combine(SharedData.RepositoryRoot, model) : SharedData.Require(model);
        await using var bytes = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        await using var floats = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu], Preprocess = PreprocessPlacement.Managed });
        Assert.Equal(PreprocessPlacement.InGraph, bytes.Preprocess);

        var images = model.Contains("neu-det", StringComparison.Ordinal) ? NeuDetImages
            : model == ShippedDemoModel ? Directory.GetFiles(SharedData.Require("datasets/workpiece-crack/val/images"), "*.jpg").Order().Take(4)
            : new[] { "media/bus.jpg", "media/zidane.jpg", "media/street.png" }.Select(SharedData.Require);
        var mats = images.Select(i => Cv2.ImRead(i, ImreadModes.Color)).ToList();
        try
        {
            var views = Enumerable.Range(0, batch).Select(i => MatImage.View(mats[i % mats.Count])).ToArray();
            var thresholds = new DetectionThresholds(0.1f, 0.7f, 300); // low: many borderline candidates, where the paths could part
            var fromBytes = views.Select(_ => new List<Detection>()).ToArray();
            var fromFloats = views.Select(_ => new List<Detection>()).ToArray();
            bytes.Detect(views, fromBytes, thresholds);
            floats.Detect(views, fromFloats, thresholds);

            Assert.True(fromFloats.Sum(d => d.Count) > 0, "the float path finds nothing: no comparison");
            for (var i = 0; i < batch; i++)
            {
                var (a, b) = (fromBytes[i], fromFloats[i]);
                Assert.True(a.Count == b.Count, $"image {i}: {a.Count} detections from bytes, {b.Count} from floats");
                for (var d = 0; d < a.Count; d++)
                {
                    Assert.Equal(b[d].ClassId, a[d].ClassId);
                    Assert.True(Math.Abs(a[d].Score - b[d].Score) <= 1e-3f, $"image {i} #{d}: score {a[d].Score} vs {b[d].Score}");
                    Assert.True(a[d].Box.IoU(b[d].Box) >= 0.99f, $"image {i} #{d}: {a[d].Box} vs {b[d].Box}");
                }
            }
        }
        finally
        {
            mats.ForEach(m => m.Dispose());
        }
    }

    [SkippableTheory]
    [InlineData("models/ultralytics-pretrained/yolov8n.onnx", "Transpose,Cast")]
    [InlineData(ShippedDemoModel, "Transpose,Cast")]
    [InlineData("models/yolov8n-int8-coco/yolov8n_int8.onnx", "Transpose,Gather,Cast,Div")] // quantised first layer: converted in full
    public void A_float_first_convolution_takes_the_bytes_with_its_weights_reordered_and_scaled(string model, string conversion)
    {
        var path = model == ShippedDemoModel ? Path.Combine(SharedData.RepositoryRoot, model) : SharedData.Require(model);
        var proto = Onnx.OnnxModelFile.Load(path);
        var description = YoloModelReader.Describe(proto, path);
        PixelGraft.Apply(proto, description);

        Assert.Equal(conversion, string.Join(',', proto.Graph.Node.Where(n => n.Name.StartsWith("pixels/", StringComparison.Ordinal)).Select(n => n.OpType)));
    }

    private static IEnumerable<string> NeuDetImages =>
        new[] { "crazing_1", "patches_10", "scratches_100", "inclusion_1" }.Select(n => SharedData.Require($"datasets/neu-det/images/{n}.jpg"));

    [Fact]
    public void Letterbox_into_bytes_holds_the_pixels_the_float_letterbox_converts()
    {
        // A 5x3 BGR image into a 8x8 slot: resized, centred, padded 114; the float tensor is its RGB planes / 255.
        var pixels = Enumerable.Range(0, 5 * 3 * 3).Select(i => (byte)(i * 5)).ToArray();
        var image = new ImageView(pixels, 5, 3, 3);
        using var preprocessor = new LetterboxPreprocessor();
        var hwc = new byte[8 * 8 * 3];
        var chw = new float[3 * 8 * 8];
        var fromBytes = preprocessor.RunBytes(image, hwc, 8, 8);
        var fromFloats = preprocessor.Run(image, chw, 8, 8);

        Assert.Equal(fromFloats, fromBytes);
        for (var y = 0; y < 8; y++)
        {
            for (var x = 0; x < 8; x++)
            {
                for (var c = 0; c < 3; c++)
                {
                    var plane = 2 - c; // BGR bytes, RGB planes
                    Assert.Equal(chw[(plane * 64) + (y * 8) + x], hwc[(((y * 8) + x) * 3) + c] / 255f);
                }
            }
        }

        Assert.Equal(LetterboxPreprocessor.PadValue, hwc[0]);
    }
}

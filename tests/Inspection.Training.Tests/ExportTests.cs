using Inspection.Core;
using Inspection.Inference;
using Inspection.TestSupport;
using Inspection.Training.Export;
using Inspection.Training.Nn;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

/// <summary>The exported ONNX computes what the TorchSharp model computes, and the engine runs it with a dynamic batch.</summary>
public sealed class ExportTests : IDisposable
{
    private const int Size = 128;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static DetectionModel TrainedLikeModel(string[] names)
    {
        random.manual_seed(7);
        var model = new DetectionModel(ModelScale.N, names);
        model.train();
        using (no_grad())
        {
            for (var i = 0; i < 3; i++)
            {
                // A few training-mode passes move the batch-norm statistics away from 0 and 1, so folding them is tested.
                using var batch = (rand(4, 3, Size, Size) * 2) - 0.5;
                foreach (var output in model.forward(batch))
                {
                    output.Dispose();
                }
            }
        }

        model.eval();
        return model;
    }

    [Fact]
    public void ONNX_Runtime_output_equals_the_TorchSharp_forward()
    {
        using var model = TrainedLikeModel(["crack", "dent", "scratch"]);
        var path = _folder.File("model.onnx");
        OnnxExporter.Export(model, Size, path);

        using var input = rand(2, 3, Size, Size);
        using var guard = no_grad();
        using var expected = model.Predict(input);
        var expectedValues = expected.data<float>().ToArray();

        using var session = new InferenceSession(path);
        using var value = OrtValue.CreateTensorValueFromMemory(input.data<float>().ToArray(), [2, 3, Size, Size]);
        using var outputs = session.Run(new RunOptions(), ["images"], [value], ["output0"]);
        var actual = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(expected.shape, outputs[0].GetTensorTypeAndShape().Shape);

        var anchors = (int)expected.shape[2];
        var channels = (int)expected.shape[1];
        double worstScore = 0, worstBox = 0;
        for (var b = 0; b < 2; b++)
        {
            for (var c = 0; c < channels; c++)
            {
                for (var a = 0; a < anchors; a++)
                {
                    var i = (((b * channels) + c) * anchors) + a;
                    if (c < 4)
                    {
                        worstBox = Math.Max(worstBox, Math.Abs(actual[i] - expectedValues[i]) / Math.Max(1, Math.Abs(expectedValues[i])));
                    }
                    else
                    {
                        worstScore = Math.Max(worstScore, Math.Abs(actual[i] - expectedValues[i]));
                    }
                }
            }
        }

        Assert.True(worstScore <= 1e-4, $"scores differ by up to {worstScore}");
        Assert.True(worstBox <= 1e-3, $"boxes differ by up to {worstBox} (relative)");
    }

    [Fact]
    public async Task The_engine_loads_the_export_with_its_names_size_and_a_dynamic_batch()
    {
        using var model = TrainedLikeModel(["crack"]);
        var path = _folder.File("crack.onnx");
        OnnxExporter.Export(model, Size, path, version: "test-1");

        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
        Assert.Equal(OutputLayout.AnchorFree, detector.Model.Layout);
        Assert.Equal(["crack"], detector.Model.Names);
        Assert.Equal((Size, Size), (detector.Model.InputWidth, detector.Model.InputHeight));
        Assert.Null(detector.FixedBatch);
        Assert.Equal(NmsPlacement.InGraph, detector.Nms);

        ImageView[] images = [SyntheticModels.Image(200, 100, 3), SyntheticModels.Image(64, 64, 1), SyntheticModels.Image(90, 300, 4)];
        List<Detection>[] results = [[], [], []];
        detector.Detect(images, results, new DetectionThresholds(0.0f, 0.7f, 50)); // an untrained model: take anything it says
        Assert.All(results, r => Assert.Equal(50, r.Count));
        Assert.All(results[0], d => Assert.True(d.Box.X2 <= 200 && d.Box.Y2 <= 100));
    }
}

using Google.Protobuf;
using Inspection.Core;
using Inspection.Onnx;
using Inspection.TestSupport;

namespace Inspection.Inference.Tests;

/// <summary>Every way a model can be wrong ends in one clear <see cref="InspectionInputException"/>, never a crash or garbage boxes.</summary>
public sealed class ModelErrorTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Missing_file_names_the_path()
    {
        var e = Assert.Throws<ModelFormatException>(() => Open(_folder.File("absent.onnx")));
        Assert.Contains("absent.onnx", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_ONNX_is_refused()
    {
        var path = _folder.File("notes.onnx");
        File.WriteAllText(path, "This is a text file, not a model.\n");
        var e = Assert.Throws<ModelFormatException>(() => Open(path));
        Assert.Contains("notes.onnx", e.Message);
    }

    [Fact]
    public void A_truncated_model_is_refused()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        var bytes = SyntheticModels.ConstantOutput(raw, shape, 64).ToByteArray();
        foreach (var cut in new[] { bytes.Length / 3, bytes.Length / 2, bytes.Length - 40 })
        {
            var path = _folder.File($"cut{cut}.onnx");
            File.WriteAllBytes(path, bytes[..cut]);
            var e = Assert.ThrowsAny<InspectionInputException>(() => Open(path));
            Assert.Contains(path, e.Message);
        }
    }

    public static TheoryData<string, float[], long[], string?> UnsupportedOutputs() => new()
    {
        { "classifier", new float[1000], [1, 1000, 1], null },       // [1, 1000, 1] is no detection layout
        { "square", new float[100], [1, 10, 10], null },             // neither 4+nc x anchors nor anchors x 5+nc
        { "wrong anchors", new float[7 * 80], [1, 7, 80], null },    // a 64 px model has 84 anchor points
        { "segmentation", new float[7 * 84], [1, 7, 84], "segment" },
    };

    [Theory]
    [MemberData(nameof(UnsupportedOutputs))]
    public void An_unsupported_layout_names_the_shapes_found_and_the_layouts_supported(string name, float[] raw, long[] shape, string? task)
    {
        var model = SyntheticModels.ConstantOutput(raw, shape, 64, task: task ?? "detect");
        var path = SyntheticModels.Save(model, _folder.File(name.Replace(' ', '-') + ".onnx"));
        var e = Assert.Throws<ModelFormatException>(() => Open(path));
        if (task is null)
        {
            Assert.Contains($"[{string.Join(", ", shape)}]", e.Message);
            Assert.Contains("[B, 4+classes, anchors]", e.Message);
            Assert.Contains("[B, anchors, 5+classes]", e.Message);
            Assert.Contains("[B, K, 6]", e.Message);
        }
        else
        {
            Assert.Contains("'segment' model", e.Message);
        }
    }

    [Fact]
    public void Class_names_that_disagree_with_the_output_are_refused()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        var model = SyntheticModels.ConstantOutput(raw, shape, 64, names: ["only", "two"]);
        var e = Assert.Throws<ModelFormatException>(() => Open(SyntheticModels.Save(model, _folder.File("names.onnx"))));
        Assert.Contains("2 class names", e.Message);
    }

    [Fact]
    public void An_image_size_that_differs_from_a_fixed_input_is_refused()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        var path = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, 64), _folder.File("fixed.onnx"));
        var e = Assert.Throws<InspectionInputException>(() => YoloDetector.Open(new DetectorOptions { ModelPath = path, ImageSize = 320, Providers = [ExecutionProvider.Cpu] }));
        Assert.Contains("fixed input of 64x64", e.Message);
    }

    private static YoloDetector Open(string path) => YoloDetector.Open(new DetectorOptions { ModelPath = path, Providers = [ExecutionProvider.Cpu] });
}

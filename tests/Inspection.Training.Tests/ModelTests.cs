using Inspection.Training.Nn;
using Inspection.Training.Nn.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

/// <summary>The YOLOv8 model matches Ultralytics' architecture: parameter counts, state-dict names, shapes, initialisation.</summary>
public sealed class ModelTests
{
    private static readonly string[] Coco = Enumerable.Range(0, 80).Select(i => $"c{i}").ToArray();

    [Theory]
    [InlineData("n", 3_157_200)] // Ultralytics: "YOLOv8n summary: 225 layers, 3,157,200 parameters"
    [InlineData("s", 11_166_560)] // "YOLOv8s summary: 225 layers, 11,166,560 parameters"
    public void Parameter_counts_match_Ultralytics(string scale, long expected)
    {
        using var model = new DetectionModel(ModelScale.Parse(scale), Coco);
        Assert.Equal(expected, model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Parameter_names_are_Ultralytics_state_dict_keys()
    {
        using var model = new DetectionModel(ModelScale.N, ["crack"]);
        var names = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);

        Assert.Equal([16L, 3, 3, 3], names["model.0.conv.weight"]);
        Assert.Equal([16L], names["model.0.bn.running_var"]);
        Assert.Equal([16L, 16, 3, 3], names["model.2.m.0.cv1.conv.weight"]);
        Assert.Equal([256L, 512, 1, 1], names["model.9.cv2.conv.weight"]);
        Assert.Equal([64L], names["model.22.cv2.0.2.bias"]);
        Assert.Equal([1L], names["model.22.cv3.2.2.bias"]);
        Assert.Equal([1L, 16, 1, 1], names["model.22.dfl.conv.weight"]);
    }

    [Fact]
    public void Batch_norms_head_biases_and_the_DFL_are_initialised_as_Ultralytics_does()
    {
        using var model = new DetectionModel(ModelScale.N, ["crack", "dent"]);
        var state = model.state_dict();
        var bn = (BatchNorm2d)model.named_modules().Single(m => m.name == "model.0.bn").module;
        Assert.Equal(Conv.BatchNormEps, bn.Eps, 9);
        Assert.Equal(Conv.BatchNormMomentum, bn.Momentum, 9);
        Assert.All(state["model.22.cv2.1.2.bias"].data<float>().ToArray(), b => Assert.Equal(1f, b));
        var expected = (float)Math.Log(5.0 / 2 / Math.Pow(640 / 16.0, 2)); // level 1, stride 16
        Assert.All(state["model.22.cv3.1.2.bias"].data<float>().ToArray(), b => Assert.Equal(expected, b, 5));
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (float)i), state["model.22.dfl.conv.weight"].data<float>().ToArray());
        Assert.False(state["model.22.dfl.conv.weight"].requires_grad);
    }

    [Fact]
    public void Outputs_have_the_training_and_export_layouts()
    {
        using var model = new DetectionModel(ModelScale.N, ["crack", "dent", "scratch"]);
        model.eval();
        using var input = rand(2, 3, 64, 96);
        using var guard = no_grad();
        var raw = model.forward(input);
        Assert.Equal([[2L, 67, 8, 12], [2L, 67, 4, 6], [2L, 67, 2, 3]], raw.Select(r => r.shape));
        using var predicted = model.Predict(input);
        Assert.Equal([2L, 7, (8 * 12) + (4 * 6) + (2 * 3)], predicted.shape);

        // Boxes are centres and sizes in input pixels; scores are probabilities.
        var boxes = predicted[.., ..4];
        Assert.True(boxes[.., 0].min().item<float>() > -96 && boxes[.., 0].max().item<float>() < 2 * 96);
        var scores = predicted[.., 4..];
        Assert.InRange(scores.min().item<float>(), 0f, 1f);
        Assert.InRange(scores.max().item<float>(), 0f, 1f);
        foreach (var r in raw)
        {
            r.Dispose();
        }
    }
}

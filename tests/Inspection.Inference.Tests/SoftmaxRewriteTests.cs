using Google.Protobuf;
using Inspection.Onnx;
using Inspection.TestSupport;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace Inspection.Inference.Tests;

/// <summary>The DFL's inner-axis Softmax, rewritten as reductions, leaves every output of real models as it was.</summary>
public sealed class SoftmaxRewriteTests
{
    public static TheoryData<string, int> Models() => new()
    {
        { "models/ultralytics-pretrained/yolov8n.onnx", 1 },
        { "models/yolov8n-int8-coco/yolov8n_int8.onnx", 1 },
        { ShippedDemoModel, 1 }, // our trainer's export
        { "models/yolov5n-neu-det/yolov5n-neu-det.onnx", 0 }, // anchors, no DFL: nothing to rewrite
    };

    private const string ShippedDemoModel = "models/workpiece-crack/workpiece-crack-yolov8n-320.onnx";

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Rewritten_model_gives_the_outputs_of_the_original(string model, int softmaxes)
    {
        var path = model == ShippedDemoModel ? Path.Combine(SharedData.RepositoryRoot, model) : SharedData.Require(model);
        var original = OnnxModelFile.Load(path);
        var description = YoloModelReader.Describe(original, path);
        var rewritten = original.Clone();

        Assert.Equal(softmaxes, SoftmaxRewrite.Apply(rewritten, description.Opset));
        Assert.DoesNotContain(rewritten.Graph.Node, n => n.OpType == "Softmax" && n.Attribute.Any(a => a.Name == "axis" && a.I is >= 0 and < 3));

        // A real picture, so the bins hold the peaked distributions of real boxes, not noise.
        var info = description.Info;
        var input = new float[3 * info.InputWidth * info.InputHeight];
        using (var mat = Cv2.ImRead(SharedData.Require(model.Contains("neu-det", StringComparison.Ordinal) ? "datasets/neu-det/images/scratches_100.jpg" : "media/bus.jpg")))
        using (var preprocessor = new LetterboxPreprocessor())
        {
            preprocessor.Run(MatImage.View(mat), input, info.InputWidth, info.InputHeight);
        }

        var expected = Run(original, description, input);
        var actual = Run(rewritten, description, input);
        Assert.Equal(expected.Length, actual.Length);
        // Float models agree to rounding. The int8 model quantises the probabilities afresh for each image from their
        // range, so a rounding difference can move one anchor's probabilities a quantisation step: seen, one anchor
        // of 8400 by 0.28 pixels.
        var apart = Enumerable.Range(0, expected.Length).Where(i => Math.Abs(expected[i] - actual[i]) > 1e-4f * Math.Max(1f, Math.Abs(expected[i]))).ToList();
        var furthest = apart.Select(i => Math.Abs(expected[i] - actual[i])).DefaultIfEmpty().Max();
        var quantised = model.Contains("int8", StringComparison.Ordinal);
        Assert.True(
            quantised ? apart.Count <= expected.Length / 1000 && furthest <= 1f : apart.Count == 0,
            $"{apart.Count} of {expected.Length} outputs differ, by up to {furthest}");
    }

    [Fact]
    public void Unnamed_softmaxes_over_inner_axes_each_become_the_softmax_they_stand_for()
    {
        // Two nameless Softmax nodes (over axes 1 and 2 of a [2, 3, 4, 5] tensor): their rewrites must not collide.
        var model = new global::Onnx.ModelProto { IrVersion = 8, Graph = new global::Onnx.GraphProto { Name = "softmaxes" } };
        model.OpsetImport.Add(new global::Onnx.OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        var g = new GraphBuilder(model.Graph, 17);
        g.AddInput("x", global::Onnx.TensorProto.Types.DataType.Float, 2, 3, 4, 5);
        foreach (var axis in new long[] { 1, 2 })
        {
            var softmax = new global::Onnx.NodeProto { OpType = "Softmax", Input = { g.Op("Transpose", ["x"], ("perm", new long[] { 0, 1, 2, 3 })) }, Output = { $"y{axis}" } };
            softmax.Attribute.Add(new global::Onnx.AttributeProto { Name = "axis", Type = global::Onnx.AttributeProto.Types.AttributeType.Int, I = axis });
            model.Graph.Node.Add(softmax);
            g.AddOutput($"y{axis}", global::Onnx.TensorProto.Types.DataType.Float, 2, 3, 4, 5);
        }

        Assert.Equal(2, SoftmaxRewrite.Apply(model, 17));

        var x = Enumerable.Range(0, 120).Select(i => (float)Math.Sin(i * 0.7) * 4).ToArray();
        using var session = new InferenceSession(model.ToByteArray());
        using var runOptions = new RunOptions();
        using var input = OrtValue.CreateTensorValueFromMemory(x, [2, 3, 4, 5]);
        using var outputs = session.Run(runOptions, ["x"], [input], ["y1", "y2"]);
        long[] dims = [2, 3, 4, 5];
        for (var o = 0; o < 2; o++)
        {
            var axis = o + 1;
            var y = outputs[o].GetTensorDataAsSpan<float>().ToArray();
            var stride = dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
            for (var i = 0; i < x.Length; i++)
            {
                // The softmax of x[i] along the axis: over the elements that differ from it in that coordinate only.
                var first = i - (i / stride % dims[axis] * stride);
                var along = Enumerable.Range(0, (int)dims[axis]).Select(k => x[first + (k * stride)]).ToArray();
                var expected = Math.Exp(x[i] - along.Max()) / along.Sum(v => Math.Exp(v - along.Max()));
                Assert.True(Math.Abs(y[i] - expected) < 1e-6, $"axis {axis}, element {i}: {y[i]} against {expected}");
            }
        }
    }

    private static float[] Run(global::Onnx.ModelProto model, YoloModelDescription description, float[] input)
    {
        using var session = new InferenceSession(model.ToByteArray());
        var info = description.Info;
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, info.InputHeight, info.InputWidth]);
        using var outputs = session.Run(runOptions, [description.InputName], [value], [description.OutputName]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}

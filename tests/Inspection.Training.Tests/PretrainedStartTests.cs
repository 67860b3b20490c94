using System.IO.Compression;
using System.Text;
using Inspection.Core;
using Inspection.Inference;
using Inspection.TestSupport;
using Inspection.Training.Engine;
using Inspection.Training.Export;
using Inspection.Training.Nn;
using Inspection.Training.Nn.Modules;
using Inspection.Training.Utils.Checkpoints;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

/// <summary>A run starts from Ultralytics' COCO weights: what transfers, what starts fresh, and the imported model proven against Ultralytics' own export.</summary>
public sealed class PretrainedStartTests : IDisposable
{
    private const string Pretrained = "models/ultralytics-pretrained";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [SkippableFact]
    public void Yolov8n_into_its_own_80_classes_transfers_every_tensor_as_the_checkpoint_holds_it()
    {
        var path = SharedData.Require($"{Pretrained}/yolov8n.pt");
        var checkpoint = UltralyticsCheckpoint.Read(path);
        using var model = new DetectionModel(StartingWeights.ScaleOf(path), checkpoint.Names);

        var transfer = StartingWeights.Apply(model, path, NullLogger.Instance);

        Assert.Equal((355, 355), (transfer.Copied, transfer.Total));
        var ours = StartingWeights.StateDict(model);
        foreach (var tensor in checkpoint.StateDict)
        {
            var values = tensor.IsFloating ? ours[tensor.Name].data<float>().ToArray().Select(v => (double)v) : ours[tensor.Name].data<long>().ToArray().Select(v => (double)v);
            Assert.True(values.SequenceEqual(tensor.IsFloating ? tensor.Floats!.Select(v => (double)v) : tensor.Integers!.Select(v => (double)v)), $"{tensor.Name} differs from the checkpoint");
        }

        Assert.All(model.named_parameters().Where(p => !p.name.Contains(".dfl.", StringComparison.Ordinal)), p => Assert.True(p.parameter.requires_grad, p.name)); // all but the fixed DFL projection
        Assert.All(model.modules().OfType<BatchNorm2d>(), norm => Assert.Equal((0.001, 0.03), (norm.Eps, norm.Momentum)));
    }

    [SkippableTheory]
    [InlineData("yolov8n.pt", 1, 319, "n")] // the n head's class branch is max(64, min(nc, 100)) wide: all of it depends on nc
    [InlineData("yolov8n.pt", 6, 319, "n")]
    [InlineData("yolov8s.pt", 6, 349, "s")] // the s head's is 128 wide for any nc: only the last convolutions start fresh
    public void Into_another_class_count_only_the_class_branch_starts_fresh(string file, int classes, int transferred, string scale)
    {
        var path = SharedData.Require($"{Pretrained}/{file}");
        Assert.Equal(scale, StartingWeights.ScaleOf(path).Name);
        using var model = new DetectionModel(StartingWeights.ScaleOf(path), [.. Enumerable.Range(0, classes).Select(i => $"defect{i}")]);

        var transfer = StartingWeights.Apply(model, path, NullLogger.Instance);

        Assert.Equal((transferred, 355), (transfer.Copied, transfer.Total));
        Assert.All(transfer.Fresh, name => Assert.StartsWith("model.22.cv3.", name));
    }

    [SkippableFact]
    public async Task The_imported_COCO_model_exported_to_ONNX_finds_on_bus_jpg_what_Ultralytics_own_export_finds()
    {
        var path = SharedData.Require($"{Pretrained}/yolov8n.pt");
        var checkpoint = UltralyticsCheckpoint.Read(path);
        using (var model = new DetectionModel(ModelScale.N, checkpoint.Names))
        {
            StartingWeights.Apply(model, path, NullLogger.Instance);
            OnnxExporter.Export(model, 640, _folder.File("imported.onnx"));
        }

        using var bus = Cv2.ImRead(SharedData.Require("media/bus.jpg"));
        var ours = await DetectAsync(_folder.File("imported.onnx"), bus);
        var theirs = await DetectAsync(SharedData.Require($"{Pretrained}/yolov8n.onnx"), bus);

        Assert.True(theirs.Count >= 5, $"Ultralytics' export found {theirs.Count} objects"); // 4 persons and a bus
        Assert.Equal(theirs.Select(d => checkpoint.Names[d.ClassId]).Order(), ours.Select(d => checkpoint.Names[d.ClassId]).Order());
        foreach (var expected in theirs)
        {
            var match = ours.Where(d => d.ClassId == expected.ClassId).MaxBy(d => d.Box.IoU(expected.Box));
            Assert.True(match.Box.IoU(expected.Box) >= 0.9, $"{checkpoint.Names[expected.ClassId]} at {expected.Box}: ours at {match.Box}");
            Assert.InRange(match.Score, expected.Score - 0.02f, expected.Score + 0.02f);
        }
    }

    [SkippableFact]
    public void A_checkpoint_of_the_other_scale_is_refused_in_one_line()
    {
        var path = SharedData.Require($"{Pretrained}/yolov8s.pt");
        using var model = new DetectionModel(ModelScale.N, ["crack"]);

        var error = Assert.Throws<InspectionInputException>(() => StartingWeights.Apply(model, path, NullLogger.Instance));

        Assert.Equal($"'{path}' is a YOLOv8s; this run builds a YOLOv8n. Leave out --model to take the checkpoint's scale.", error.Message);
    }

    [SkippableFact]
    public void A_checkpoint_whose_state_dict_misses_keys_is_refused_in_one_line()
    {
        // Every BatchNorm's running_var renamed (pickle memoises the key, so all 57 change): 51 missing and 51 unknown outside the class branch.
        var original = SharedData.Require($"{Pretrained}/yolov8n.pt");
        var path = _folder.File("renamed.pt");
        using (var source = ZipFile.OpenRead(original))
        using (var target = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            foreach (var entry in source.Entries)
            {
                using var input = entry.Open();
                using var buffer = new MemoryStream();
                input.CopyTo(buffer);
                var bytes = buffer.ToArray();
                if (entry.FullName.EndsWith("data.pkl", StringComparison.Ordinal))
                {
                    var at = bytes.AsSpan().IndexOf("running_var"u8);
                    Assert.True(at > 0);
                    Encoding.ASCII.GetBytes("running_vxr").CopyTo(bytes, at);
                }

                using var output = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                output.Write(bytes);
            }
        }

        using var model = new DetectionModel(ModelScale.N, ["crack"]);
        var error = Assert.Throws<InspectionInputException>(() => StartingWeights.Apply(model, path, NullLogger.Instance));

        Assert.Equal($"'{path}' does not fit a YOLOv8n: model.0.bn.running_var is missing in it and [16] here (101 more differ); give an unmodified Ultralytics yolov8n.pt.", error.Message);
    }

    private static async Task<List<Detection>> DetectAsync(string model, Mat image)
    {
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = model, Providers = [ExecutionProvider.Cpu] });
        List<Detection>[] results = [[]];
        detector.Detect([MatImage.View(image)], results, new DetectionThresholds(0.25f, 0.7f, 300));
        return results[0];
    }
}

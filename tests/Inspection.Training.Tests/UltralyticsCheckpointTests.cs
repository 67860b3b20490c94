using System.IO.Compression;
using System.Text;
using Inspection.Core;
using Inspection.TestSupport;
using Inspection.Training.Nn;
using Inspection.Training.Utils.Checkpoints;

namespace Inspection.Training.Tests;

/// <summary>Ultralytics .pt checkpoints read without Python: every state-dict tensor as PyTorch names it, and clear refusals.</summary>
public sealed class UltralyticsCheckpointTests : IDisposable
{
    private const string Pretrained = "models/ultralytics-pretrained";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [SkippableFact]
    public void Yolov8n_gives_every_state_dict_tensor_with_pytorchs_name_shape_and_dtype_in_order()
    {
        var expected = File.ReadAllLines(SharedData.Require($"{Pretrained}/yolov8n.state_dict.tsv"))
            .Where(line => !line.StartsWith('#'))
            .Select(line => line.Split('\t'))
            .ToList();

        var checkpoint = UltralyticsCheckpoint.Read(SharedData.Require($"{Pretrained}/yolov8n.pt"));

        Assert.Equal(355, expected.Count);
        Assert.Equal(expected.Select(columns => columns[0]), checkpoint.StateDict.Select(tensor => tensor.Name));
        foreach (var (columns, tensor) in expected.Zip(checkpoint.StateDict))
        {
            var shape = columns[2] == "scalar" ? "" : columns[2];
            Assert.Equal($"{columns[0]} {columns[1]} {shape} {columns[3]}", $"{tensor.Name} {Kind(tensor)} {string.Join('x', tensor.Shape)} {tensor.DType}");
            Assert.Equal(tensor.ElementCount, (long?)tensor.Floats?.Length ?? tensor.Integers!.Length);
        }

        Assert.Equal(298, checkpoint.StateDict.Count(tensor => tensor.IsFloating));
        Assert.Equal(57, checkpoint.StateDict.Count(tensor => tensor.Integers is not null));
        Assert.Equal(3_157_200, checkpoint.ParameterCount);
    }

    [SkippableFact]
    public void Yolov8n_gives_class_names_version_date_batch_norm_settings_and_the_values()
    {
        var checkpoint = UltralyticsCheckpoint.Read(SharedData.Require($"{Pretrained}/yolov8n.pt"));

        Assert.Equal("ultralytics.nn.tasks.DetectionModel", checkpoint.ModelClass);
        Assert.Equal(80, checkpoint.Names.Count);
        Assert.Equal(["person", "bicycle", "car"], checkpoint.Names.Take(3));
        Assert.Equal("toothbrush", checkpoint.Names[79]);
        Assert.Equal(80, checkpoint.ClassCount);
        Assert.Equal("8.0.0.dev0", checkpoint.Version);
        Assert.StartsWith("2022-12-30T", checkpoint.Date);

        Assert.Equal(57, checkpoint.BatchNorms.Count);
        Assert.Contains("model.0.bn", checkpoint.BatchNorms.Keys);
        Assert.All(checkpoint.BatchNorms.Values, settings => Assert.Equal(new BatchNormSettings(0.001, 0.03), settings));

        // The DFL projection is the fixed arange(16), so the values, not only the shapes, come out right.
        var dfl = checkpoint.StateDict.Single(tensor => tensor.Name == "model.22.dfl.conv.weight");
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (float)i), dfl.Floats!);
        var firstConv = checkpoint.StateDict[0].Floats!;
        Assert.All(firstConv, value => Assert.True(float.IsFinite(value)));
        Assert.Contains(firstConv, value => value != 0);
        var runningVariance = checkpoint.StateDict.Single(tensor => tensor.Name == "model.0.bn.running_var").Floats!;
        Assert.All(runningVariance, value => Assert.True(value > 0));
    }

    [SkippableFact]
    public void Yolov8s_reads_with_its_parameter_count()
    {
        var checkpoint = UltralyticsCheckpoint.Read(SharedData.Require($"{Pretrained}/yolov8s.pt"));

        Assert.Equal(355, checkpoint.StateDict.Count);
        Assert.Equal(11_166_560, checkpoint.ParameterCount);
        Assert.Equal(80, checkpoint.Names.Count);
        Assert.Equal([64, 32, 3, 3], checkpoint.StateDict.Single(tensor => tensor.Name == "model.1.conv.weight").Shape);
    }

    [SkippableTheory]
    [InlineData("yolov8n.pt", "N")]
    [InlineData("yolov8s.pt", "S")]
    public void Our_detection_model_has_the_checkpoints_state_dict_names_and_shapes(string file, string scale)
    {
        var checkpoint = UltralyticsCheckpoint.Read(SharedData.Require($"{Pretrained}/{file}"));
        using var model = new DetectionModel(ModelScale.Parse(scale), checkpoint.Names);

        // Every checkpoint tensor has a same-named, same-shaped one to copy into. TorchSharp's state_dict also lists
        // some submodules a second time under their field names (model.0._bn.weight); a transfer by checkpoint names skips those.
        var ours = model.state_dict();
        var theirs = checkpoint.StateDict.Select(tensor => $"{tensor.Name} {string.Join('x', tensor.Shape)}");
        Assert.Equal(theirs, checkpoint.StateDict.Select(tensor => $"{tensor.Name} {(ours.TryGetValue(tensor.Name, out var our) ? string.Join('x', our.shape) : "missing")}"));
        Assert.Equal([], ours.Keys.Except(checkpoint.StateDict.Select(tensor => tensor.Name)).Where(name => !name.Split('.').Any(part => part.StartsWith('_'))));
    }

    [Fact]
    public void A_file_that_is_not_a_zip_is_refused()
    {
        var path = _folder.File("notes.pt");
        File.WriteAllText(path, "not a checkpoint");

        AssertRefused(path, "is not a zip");
    }

    [SkippableFact]
    public void A_truncated_checkpoint_is_refused()
    {
        var original = File.ReadAllBytes(SharedData.Require($"{Pretrained}/yolov8n.pt"));
        var path = _folder.File("truncated.pt");
        File.WriteAllBytes(path, original[..(original.Length / 2)]);

        AssertRefused(path, "truncated or damaged zip");
    }

    [Fact]
    public void A_zip_without_data_pkl_is_refused()
    {
        var path = WriteZip("other.pt", ("archive/readme.txt", "hello"u8.ToArray()));

        AssertRefused(path, "without data.pkl");
    }

    [Fact]
    public void A_pt_holding_a_plain_tensor_is_refused()
    {
        var pickle = "ctorch._utils\n_rebuild_tensor_v2\n(" +
            "(Vstorage\nctorch\nFloatStorage\nV0\nVcpu\nI2\ntQ" +
            "I0\n(I2\nt(I1\ntI00\nccollections\nOrderedDict\n(tRtR.";
        var path = WriteZip("tensor.pt", ("archive/data.pkl", Encoding.ASCII.GetBytes(pickle)), ("archive/data/0", new byte[8]));

        AssertRefused(path, "holds a plain tensor");
    }

    [Fact]
    public void A_dict_without_a_model_is_refused()
    {
        var path = WriteZip("dict.pt", ("archive/data.pkl", Encoding.ASCII.GetBytes("(dVepoch\nI3\ns.")));

        AssertRefused(path, "dict without a 'model'");
    }

    [Fact]
    public void A_checkpoint_of_another_task_is_refused()
    {
        var pickle = "(dVmodel\ncultralytics.nn.tasks\nSegmentationModel\n(tRs.";
        var path = WriteZip("segment.pt", ("archive/data.pkl", Encoding.ASCII.GetBytes(pickle)));

        AssertRefused(path, "'ultralytics.nn.tasks.SegmentationModel', not 'ultralytics.nn.tasks.DetectionModel'");
    }

    [Fact]
    public void A_protocol_4_pickle_is_refused_since_its_globals_cannot_be_checked_without_running_it()
    {
        byte[] pickle = [0x80, 4, 0x8c, 2, .. "os"u8, 0x94, 0x8c, 6, .. "system"u8, 0x94, 0x93, 0x94, (byte)'.'];
        var path = WriteZip("protocol4.pt", ("archive/data.pkl", pickle));

        AssertRefused(path, "pickle protocol 4");
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    public void A_pickle_naming_a_forbidden_global_is_refused_before_unpickling(string module, string name)
    {
        var pickle = $"(dVmodel\nc{module}\n{name}\n(Vtouch {_folder.File("ran")}\ntRs.";
        var path = WriteZip("evil.pt", ("archive/data.pkl", Encoding.ASCII.GetBytes(pickle)));

        AssertRefused(path, $"'{module}.{name}'");
        Assert.False(File.Exists(_folder.File("ran")));
    }

    private static string Kind(CheckpointTensor tensor) => tensor.Kind == CheckpointTensorKind.Parameter ? "param" : "buffer";

    private static void AssertRefused(string path, string expected)
    {
        var error = Assert.Throws<InspectionInputException>(() => UltralyticsCheckpoint.Read(path));
        Assert.Contains(expected, error.Message);
        Assert.Contains(path, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    private string WriteZip(string name, params (string Entry, byte[] Bytes)[] entries)
    {
        var path = _folder.File(name);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (entry, bytes) in entries)
        {
            using var stream = zip.CreateEntry(entry).Open();
            stream.Write(bytes);
        }

        return path;
    }
}

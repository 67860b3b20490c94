using System.Text.Json;
using Inspection.Datasets;
using Inspection.TestSupport;

namespace Inspection.Datasets.Tests;

public sealed class YoloDatasetWriterTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [SkippableFact]
    public async Task Awkward_class_names_and_real_labels_read_back_alike_in_our_loader_PyYAML_and_dataset_check()
    {
        var source = DatasetLoader.Load(SharedData.Require("datasets/workpiece-crack"));
        var train = source.Splits["train"].Images;
        var originals = train.Where(i => i.Boxes.Count > 0).Take(5).Append(train.First(i => i.Boxes.Count == 0)).ToList(); // a background image too
        var writer = new YoloDatasetWriter(_folder.File("out"));
        var (images, _) = writer.CreateFolders("train");
        foreach (var image in originals)
        {
            var copy = Path.Combine(images, Path.GetFileName(image.ImagePath));
            File.Copy(image.ImagePath, copy);
            YoloDatasetWriter.WriteLabels(copy, image.Boxes);
        }

        writer.WriteDataYaml(PyYaml.AwkwardNames, "train/images", "train/images", comment: "Written by the tests: awkward names # and all");

        var loaded = DatasetLoader.Load(writer.Root);
        Assert.Equal(PyYaml.AwkwardNames, loaded.Names);
        Assert.True(loaded.Usable, string.Join("\n", loaded.Problems));
        Assert.DoesNotContain(loaded.Problems, p => p.Severity != ProblemSeverity.Note);
        var written = loaded.Splits["train"].Images.ToDictionary(i => Path.GetFileName(i.ImagePath));
        Assert.Equal(originals.Count, written.Count);
        foreach (var original in originals)
        {
            var back = written[Path.GetFileName(original.ImagePath)];
            Assert.Equal(Path.Combine(writer.Root, "train", "labels", Path.GetFileNameWithoutExtension(original.ImagePath) + ".txt"), back.LabelPath);
            Assert.Equal(original.Boxes.Count, back.Boxes.Count);
            foreach (var (a, b) in original.Boxes.Zip(back.Boxes))
            {
                Assert.Equal(a.ClassId, b.ClassId);
                Assert.Equal(a.Box.X1, b.Box.X1, 0.00001f);
                Assert.Equal(a.Box.Y1, b.Box.Y1, 0.00001f);
                Assert.Equal(a.Box.X2, b.Box.X2, 0.00001f);
                Assert.Equal(a.Box.Y2, b.Box.Y2, 0.00001f);
            }
        }

        Assert.Equal(PyYaml.AwkwardNames, await PyYaml.NamesAsync(writer.DataYamlPath));

        var check = await CliRunner.RunAsync("dataset", "check", writer.DataYamlPath, "--json");
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        Assert.Equal(PyYaml.AwkwardNames, JsonDocument.Parse(check.Stdout).RootElement.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
    }

    [Fact]
    public void Data_yaml_is_replaced_whole_and_label_paths_follow_the_loaders_rule()
    {
        var writer = new YoloDatasetWriter(_folder.Path);
        writer.WriteDataYaml(["a"], "images", "images");
        writer.WriteDataYaml(["b", "c"], "train.txt", "holdout.txt");
        Assert.Equal(["b", "c"], DatasetLoader.Load(writer.DataYamlPath, verifyImages: false).Names);
        Assert.Equal([YoloDatasetWriter.DataYamlName], Directory.GetFiles(_folder.Path).Select(Path.GetFileName)); // no temporary file left

        Assert.Equal("/d/train/labels/sub/x.txt", YoloDatasetWriter.LabelPathOf("/d/train/images/sub/x.jpg"));
        Assert.Equal("/d/images/labels/x.txt", YoloDatasetWriter.LabelPathOf("/d/images/images/x.png")); // the last images/ is swapped
        Assert.Equal("/d/pictures/x.txt", YoloDatasetWriter.LabelPathOf("/d/pictures/x.jpg"));     // no images/: beside the image
        Assert.Equal(
            "0 0.5 0.25 0.2 0.1\n3 0.05 0.95 0.1 0.1\n",
            YoloDatasetWriter.LabelText([LabeledBox.FromCenter(0, 0.5f, 0.25f, 0.2f, 0.1f), LabeledBox.FromPixels(3, new(-10, 90, 10, 120), 100, 100)]));
    }
}

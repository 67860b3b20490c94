using System.Text.Json;
using Inspection.Datasets;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Datasets.Tests;

public sealed class DatasetLoaderTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [SkippableFact]
    public void Workpiece_crack_loads_with_every_quirk_reported()
    {
        var reads = new List<DatasetLoadProgress>();
        var dataset = DatasetLoader.Load(SharedData.Require("datasets/workpiece-crack"), progress: reads.Add);

        Assert.True(dataset.Usable);
        Assert.Equal(["crack"], dataset.Names);
        Assert.Equal((60, 16, 2), (dataset.Splits["train"].Images.Count, dataset.Splits["val"].Images.Count, dataset.Splits["test"].Images.Count));
        Assert.Equal(3, dataset.Splits["train"].Images.Count(i => i.Boxes.Count == 0)); // the three empty label files
        Assert.Contains(dataset.Problems, p => p.Kind == "missing-folder" && p.Message.Contains("'val: ../valid/images' does not exist; 'val/images' does"));
        Assert.Equal(16, dataset.Problems.Count(p => p.Kind == "junk-file" && Path.GetFileName(p.File).StartsWith("._", StringComparison.Ordinal)));
        Assert.Equal(3, dataset.Problems.Count(p => p.Kind == "empty-label"));
        Assert.Contains(dataset.Problems, p => p.Kind == "no-final-newline");
        Assert.All(dataset.Splits.Values.SelectMany(s => s.Images).SelectMany(i => i.Boxes), b => Assert.InRange(b.Box.Width, 0.0001f, 1f));
        AssertReadOneByOne(reads, [("train", 60), ("val", 16), ("test", 2)]);
    }

    [SkippableFact]
    public void NEU_DET_loads_from_its_VOC_annotations_and_split_lists()
    {
        var reads = new List<DatasetLoadProgress>();
        var dataset = DatasetLoader.Load(SharedData.Require("datasets/neu-det"), progress: reads.Add);

        Assert.True(dataset.Usable);
        Assert.Equal(["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"], dataset.Names);
        Assert.Equal(1440, dataset.Splits["train"].Images.Count);
        Assert.Equal(360, dataset.Splits["val"].Images.Count);
        Assert.Equal(4189, dataset.Splits.Values.Sum(s => s.Images.Sum(i => i.Boxes.Count)));
        Assert.Equal(174, dataset.Problems.Count(p => p.Kind == "filename-without-extension"));
        Assert.Contains(dataset.Problems, p => p.Kind == "depth-mismatch" && p.Message.Contains("says depth 1, the image has 3 channels"));
        Assert.DoesNotContain(dataset.Problems, p => p.Severity != ProblemSeverity.Note);

        // crazing_1.xml: xmin 2, ymin 2, xmax 193, ymax 194 on 200x200 (1-based), as Ultralytics converts it.
        var first = dataset.Splits["train"].Images.Single(i => i.ImagePath.EndsWith("/crazing_1.jpg", StringComparison.Ordinal)).Boxes.Single();
        Assert.Equal(0, first.ClassId);
        Assert.Equal((0.005f, 0.005f, 0.96f, 0.965f), (first.Box.X1, first.Box.Y1, first.Box.X2, first.Box.Y2));
        AssertReadOneByOne(reads, [("annotations", 1800), ("train", 1440), ("val", 360)]);
    }

    /// <summary>Progress told once per file, part after part, each counting up to its total.</summary>
    private static void AssertReadOneByOne(List<DatasetLoadProgress> reads, (string Part, int Files)[] parts)
    {
        Assert.Equal(parts.SelectMany(p => Enumerable.Range(1, p.Files).Select(done => (p.Part, done, p.Files))), reads.Select(r => (r.Part, r.Done, r.Total)));
        Assert.All(reads, r => Assert.True(File.Exists(r.File), r.File));
    }

    [Fact]
    public void Bad_labels_and_images_are_reported_skipped_or_repaired_never_fatal()
    {
        var images = Directory.CreateDirectory(_folder.File("train/images")).FullName;
        var labels = Directory.CreateDirectory(_folder.File("train/labels")).FullName;
        File.WriteAllText(_folder.File("data.yaml"), "train: train/images\nnames: ['scratch', 'dent']\n");
        for (var i = 0; i < 6; i++)
        {
            using var picture = new Mat(40, 40, MatType.CV_8UC3, Scalar.All(30 * i));
            Cv2.ImWrite(Path.Combine(images, $"img{i}.png"), picture);
        }

        File.WriteAllText(Path.Combine(labels, "img0.txt"), "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"); // a duplicate
        File.WriteAllText(Path.Combine(labels, "img1.txt"), "7 0.5 0.5 0.2 0.2\nbanana\n1 0.5 0.5 0.1\n");          // bad class, junk line, too few fields
        File.WriteAllText(Path.Combine(labels, "img2.txt"), "1 0.95 0.5 0.2 0.2\n0 0.5 0.5 0 0.2\n");                // sticks out; no area
        File.WriteAllBytes(Path.Combine(labels, "img3.txt"), [0x00, 0x05, 0x16, 0x07, 0xFF, 0xFE]);                  // binary junk
        File.WriteAllText(Path.Combine(labels, "img4.txt"), "1 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4\n");                  // a polygon
        File.WriteAllText(Path.Combine(labels, "stray.txt"), "0 0.5 0.5 0.1 0.1\n");                                  // no image
        File.WriteAllBytes(Path.Combine(images, "img6.jpg"), [0xFF, 0xD8, 0xFF, 0x00, 0x01]);                         // corrupt

        var dataset = DatasetLoader.Load(_folder.Path);
        var kinds = dataset.Problems.GroupBy(p => p.Kind).ToDictionary(g => g.Key, g => g.Count());
        var train = dataset.Splits["train"].Images.ToDictionary(i => Path.GetFileName(i.ImagePath));

        Assert.True(dataset.Usable);
        Assert.Equal(1, kinds["duplicate-box"]);
        Assert.Equal(2, train["img0.png"].Boxes.Count);
        Assert.Equal(1, kinds["bad-class"]);
        Assert.Equal(2, kinds["bad-line"]);
        Assert.Empty(train["img1.png"].Boxes);
        Assert.Equal(1, kinds["box-outside"]);
        Assert.Equal(1, kinds["empty-box"]);
        Assert.Equal(1f, train["img2.png"].Boxes.Single().Box.X2);
        Assert.Equal(1, kinds["junk-label"]);
        Assert.False(train.ContainsKey("img3.png")); // its labels are unknown: not trained as a background
        Assert.Equal((0.1f, 0.1f, 0.3f, 0.4f), (train["img4.png"].Boxes[0].Box.X1, train["img4.png"].Boxes[0].Box.Y1, train["img4.png"].Boxes[0].Box.X2, train["img4.png"].Boxes[0].Box.Y2));
        Assert.Empty(train["img5.png"].Boxes); // no label file: a background
        Assert.Equal(1, kinds["orphan-label"]);
        Assert.Equal(1, kinds["bad-image"]);
        Assert.False(train.ContainsKey("img6.jpg"));
    }

    [Fact]
    public void A_dataset_without_training_images_is_not_usable_and_says_why()
    {
        File.WriteAllText(_folder.File("data.yaml"), "train: nowhere/images\nnames: ['a']\n");
        var dataset = DatasetLoader.Load(_folder.File("data.yaml"));
        Assert.False(dataset.Usable);
        Assert.Contains(dataset.Problems, p => p.Kind == "no-training-images");
        Assert.Contains(dataset.Problems, p => p.Severity == ProblemSeverity.Error && p.Message.Contains("'train: nowhere/images' does not exist; fix the path in data.yaml"));
    }

    [SkippableFact]
    public async Task Dataset_check_prints_the_report_and_exits_0_for_a_usable_dataset_and_2_otherwise()
    {
        var good = await CliRunner.RunAsync("dataset", "check", SharedData.Require("datasets/workpiece-crack"), "--json");
        Assert.True(good.ExitCode == 0, good.Stderr);
        using var json = JsonDocument.Parse(good.Stdout);
        Assert.True(json.RootElement.GetProperty("usable").GetBoolean());
        Assert.Equal(16, json.RootElement.GetProperty("problems").EnumerateArray().Count(p => p.GetProperty("kind").GetString() == "junk-file"));

        File.WriteAllText(_folder.File("data.yaml"), "train: nowhere/images\nnames: ['a']\n");
        var bad = await CliRunner.RunAsync("dataset", "check", _folder.File("data.yaml"));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("NOT usable", bad.Stdout);
        Assert.Contains("'train: nowhere/images' does not exist", bad.Stdout);

        var missing = await CliRunner.RunAsync("dataset", "check", _folder.File("absent"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr);
        Assert.DoesNotContain("   at ", missing.Stderr);
    }
}

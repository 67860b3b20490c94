using System.Text.Json;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Cli.Tests;

public sealed class DetectCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static string Yolov8 => SharedData.Require("models/yolov8n-int8-coco/yolov8n_int8.onnx");

    [SkippableFact]
    public async Task Json_output_is_one_object_per_image_with_the_reference_detections()
    {
        var bus = SharedData.Require("media/bus.jpg");
        var result = await CliRunner.RunAsync("detect", "--model", Yolov8, "--source", bus, "--iou", "0.7", "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var line = Assert.Single(result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        Assert.Equal(bus, root.GetProperty("source").GetString());
        Assert.Equal(810, root.GetProperty("width").GetInt32());
        Assert.Equal(1080, root.GetProperty("height").GetInt32());
        var detections = root.GetProperty("detections").EnumerateArray().ToList();
        Assert.Equal(5, detections.Count);
        var best = detections[0];
        Assert.Equal(0, best.GetProperty("classId").GetInt32());
        Assert.Equal("person", best.GetProperty("class").GetString());
        Assert.InRange(best.GetProperty("score").GetDouble(), 0.87, 0.93);
        var box = best.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal([672.1, 373.8, 810.0, 878.9], box, (a, b) => Math.Abs(a - b) < 3);
        Assert.Equal(4, detections.Count(d => d.GetProperty("class").GetString() == "person"));
    }

    [SkippableFact]
    public async Task A_folder_runs_every_image_writes_annotated_copies_and_reports_a_corrupt_one()
    {
        var images = Directory.CreateDirectory(_folder.File("images")).FullName;
        File.Copy(SharedData.Require("media/bus.jpg"), Path.Combine(images, "a-bus.jpg"));
        File.Copy(SharedData.Require("media/zidane.jpg"), Path.Combine(images, "b-zidane.jpg"));
        File.WriteAllBytes(Path.Combine(images, "c-corrupt.jpg"), File.ReadAllBytes(SharedData.Require("media/bus.jpg"))[..200]);
        var annotated = _folder.File("annotated");

        var result = await CliRunner.RunAsync("detect", "-m", Yolov8, "-s", images, "--out", annotated, "--json");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("c-corrupt.jpg", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        var sources = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => Path.GetFileName(JsonDocument.Parse(l).RootElement.GetProperty("source").GetString())).ToList();
        Assert.Equal(["a-bus.jpg", "b-zidane.jpg"], sources);

        using var original = Cv2.ImRead(Path.Combine(images, "a-bus.jpg"));
        using var drawn = Cv2.ImRead(Path.Combine(annotated, "a-bus.jpg"));
        Assert.Equal(original.Size(), drawn.Size());
        using var difference = new Mat();
        Cv2.Absdiff(original, drawn, difference);
        Assert.True(Cv2.Sum(difference).Val0 > 100_000, "the annotated image should carry drawn boxes");
    }

    [SkippableFact]
    public async Task A_video_gives_one_result_per_frame_and_an_annotated_video()
    {
        var video = _folder.File("clip.mp4");
        using (var bus = Cv2.ImRead(SharedData.Require("media/bus.jpg")))
        using (var frame = bus.Resize(new Size(320, 428)))
        using (var writer = new VideoWriter(video, FourCC.MP4V, 10, frame.Size()))
        {
            for (var i = 0; i < 4; i++)
            {
                writer.Write(frame);
            }
        }

        var result = await CliRunner.RunAsync("detect", "-m", Yolov8, "-s", video, "--json", "--out", _folder.File("out"));

        Assert.True(result.ExitCode == 0, result.Stderr);
        var frames = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([0, 1, 2, 3], frames.Select(f => f.GetProperty("frame").GetInt32()));
        Assert.All(frames, f => Assert.Contains(f.GetProperty("detections").EnumerateArray(), d => d.GetProperty("class").GetString() == "bus"));
        using var annotated = new VideoCapture(Path.Combine(_folder.File("out"), "clip.mp4"));
        Assert.Equal(4, (int)annotated.FrameCount);
    }

    [Fact]
    public async Task Text_output_lists_class_score_and_box_after_NMS_at_Ultralytics_predict_IoU_by_default()
    {
        var (model, image) = SyntheticInputs();
        var result = await CliRunner.RunAsync("detect", "-m", model, "-s", image, "--device", "cpu");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("(64x64): 4 detections", result.Stdout); // IoU 0.7 keeps two overlapping boxes apart
        Assert.Contains("dent             0.900  [15, 25, 25, 35]", result.Stdout);

        var stricter = await CliRunner.RunAsync("detect", "-m", model, "-s", image, "--device", "cpu", "--iou", "0.45");
        Assert.True(stricter.ExitCode == 0, stricter.Stderr);
        Assert.Contains("(64x64): 3 detections", stricter.Stdout);
    }

    public static TheoryData<string, string[], string> UserMistakes() => new()
    {
        { "missing model", ["detect", "-m", "absent.onnx", "-s", "{image}"], "absent.onnx' does not exist" },
        { "image as model", ["detect", "-m", "{image}", "-s", "{image}"], "is not a readable ONNX file" },
        { "truncated model", ["detect", "-m", "{truncated}", "-s", "{image}"], "truncated" },
        { "unsupported layout", ["detect", "-m", "{unsupported}", "-s", "{image}"], "no YOLO detection layout" },
        { "missing source", ["detect", "-m", "{model}", "-s", "absent.jpg"], "absent.jpg' does not exist" },
        { "not an image", ["detect", "-m", "{model}", "-s", "{text}"], "is not an image" },
        { "missing option", ["detect", "-s", "{image}"], "--model" },
        { "bad threshold", ["detect", "-m", "{model}", "-s", "{image}", "--conf", "2"], "Confidence threshold 2" },
        { "bad device", ["detect", "-m", "{model}", "-s", "{image}", "--device", "npu"], "--device 'npu'" },
    };

    [Theory]
    [MemberData(nameof(UserMistakes))]
    public async Task A_user_mistake_prints_one_clear_line_and_exits_2(string mistake, string[] args, string expected)
    {
        var (model, image) = SyntheticInputs();
        var text = _folder.File("notes.txt");
        File.WriteAllText(text, "not an image");
        var truncated = _folder.File("truncated.onnx");
        File.WriteAllBytes(truncated, File.ReadAllBytes(model)[..600]);
        var unsupported = SyntheticModels.Save(
            SyntheticModels.ConstantOutput(new float[100], [1, 10, 10], 64), _folder.File("square.onnx"));
        var resolved = args.Select(a => a.Replace("{image}", image).Replace("{model}", model).Replace("{truncated}", truncated)
            .Replace("{unsupported}", unsupported).Replace("{text}", text)).ToArray();

        var result = await CliRunner.RunAsync(resolved);

        Assert.True(result.ExitCode == 2, $"{mistake}: exit {result.ExitCode}\n{result.Stderr}");
        Assert.Contains(expected, result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Exception", result.Stderr);
        Assert.Empty(result.Stdout);
    }

    private (string Model, string Image) SyntheticInputs()
    {
        var (raw, shape) = SyntheticModels.RawOutput(Core.OutputLayout.AnchorFree);
        var model = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, 64), _folder.File("model.onnx"));
        var image = _folder.File("gray.png");
        using var mat = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(90));
        Cv2.ImWrite(image, mat);
        return (model, image);
    }
}

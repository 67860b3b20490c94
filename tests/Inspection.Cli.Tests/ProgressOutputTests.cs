using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Cli.Tests;

/// <summary>
/// Progress as logs and CI see it: with stderr redirected, plain lines without escapes (at most one per task every
/// 10 s, and each task's last) while stdout keeps only results; on a terminal, bars, unless CI or TERM=dumb say not.
/// </summary>
public sealed class ProgressOutputTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static string Yolov8 => SharedData.Require("models/yolov8n-int8-coco/yolov8n_int8.onnx");

    [SkippableFact]
    public async Task Detect_on_a_folder_and_on_a_video_ends_each_with_a_plain_final_line_and_keeps_json_on_stdout()
    {
        var images = Directory.CreateDirectory(_folder.File("pictures")).FullName;
        File.Copy(SharedData.Require("media/bus.jpg"), Path.Combine(images, "a-bus.jpg"));
        File.Copy(SharedData.Require("media/zidane.jpg"), Path.Combine(images, "b-zidane.jpg"));
        var video = _folder.File("clip.mp4");
        using (var bus = Cv2.ImRead(SharedData.Require("media/bus.jpg")))
        using (var frame = bus.Resize(new Size(320, 428)))
        using (var writer = new VideoWriter(video, FourCC.MP4V, 10, frame.Size()))
        {
            for (var i = 0; i < 5; i++)
            {
                writer.Write(frame);
            }
        }

        foreach (var (source, final, results) in new[] { (images, @"^pictures  100%  images 2/2  [0-9.]+ images/s$", 2), (video, @"^clip\.mp4  100%  frames 5/5  [0-9.]+ frames/s$", 5) })
        {
            var (result, lines) = await RunAsync("detect", "--model", Yolov8, "--source", source, "--json", "--device", "cpu");
            Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.Equal(results, JsonLines(result.Stdout).Count);
            Assert.Matches(final, lines[^1]);
        }
    }

    [SkippableFact]
    public async Task Val_shows_the_images_it_measured_on_stderr_and_prints_only_its_json_on_stdout()
    {
        var model = Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "workpiece-crack-yolov8n-320.onnx");
        var (result, lines) = await RunAsync("val", "--model", model, "--data", SharedData.Require("datasets/workpiece-crack"), "--json", "--device", "cpu", "--batch", "4");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var scores = Assert.Single(JsonLines(result.Stdout));
        Assert.InRange(scores.GetProperty("mAP50").GetDouble(), 0.3, 1.0);
        Assert.Matches(@"^val  100%  images (\d+)/\1  [0-9.]+ images/s$", lines[^1]);
    }

    [SkippableFact]
    public async Task Dataset_check_shows_each_split_it_read_and_prints_only_its_json_on_stdout()
    {
        var (result, lines) = await RunAsync("dataset", "check", SharedData.Require("datasets/workpiece-crack"), "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var report = Assert.Single(JsonLines(result.Stdout));
        foreach (var split in report.GetProperty("splits").EnumerateArray().Select(s => s.GetProperty("name").GetString()))
        {
            Assert.Single(lines, l => Regex.IsMatch(l, $@"^{split}  100%  (\d+)/\1 files  \S+$"));
        }
    }

    [SkippableTheory]
    [InlineData("xterm-256color", null, true)]
    [InlineData("xterm-256color", "true", false)]
    [InlineData("dumb", null, false)]
    public async Task On_a_terminal_bars_are_drawn_unless_CI_is_set_or_the_terminal_is_dumb(string term, string? ci, bool bars)
    {
        // script needs a pseudo-terminal: a chroot without devpts mounted (the minimal Debian proof) has none.
        Skip.IfNot(File.Exists("/dev/pts/ptmx"), "no pseudo-terminals here (/dev/pts is not mounted)");
        var bus = SharedData.Require("media/bus.jpg");
        var start = new ProcessStartInfo("script") { RedirectStandardOutput = true, RedirectStandardInput = true };
        var command = string.Join(' ', new[] { "dotnet", CliRunner.CliPath, "detect", "-m", Yolov8, "-s", bus, "--device", "cpu" }.Select(a => $"'{a}'"));
        start.ArgumentList.Add("-qec");
        start.ArgumentList.Add(command);
        start.ArgumentList.Add("/dev/null"); // no typescript file: the terminal's output comes on script's stdout
        start.Environment["TERM"] = term;
        start.Environment["CI"] = ci;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = (await process.StandardOutput.ReadToEndAsync()).Replace("\u001b[?1h\u001b=", string.Empty, StringComparison.Ordinal); // .NET's own keypad mode on a terminal
        await process.WaitForExitAsync();

        Assert.True(process.ExitCode == 0, output);
        Assert.Contains("bus.jpg (810x1080): 5 detections", output, StringComparison.Ordinal);
        Assert.Equal(bars, output.Contains('\u001b', StringComparison.Ordinal));
        Assert.Equal(bars, output.Contains('━', StringComparison.Ordinal));
    }

    /// <summary>
    /// Runs the CLI with stdout and stderr redirected; checks stderr has no escape and no more lines per task than
    /// one every 10 s and a last one; returns stderr's lines.
    /// </summary>
    private static async Task<(CliRunner.Result Result, List<string> Lines)> RunAsync(params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var result = await CliRunner.RunAsync(args);
        Assert.DoesNotContain('\u001b', result.Stderr + result.Stdout);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        foreach (var task in lines.GroupBy(l => l.Split("  ")[0]))
        {
            Assert.InRange(task.Count(), 1, 1 + (int)(clock.Elapsed.TotalSeconds / 10));
        }

        return (result, lines);
    }

    private static List<JsonElement> JsonLines(string stdout) =>
        [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)];
}

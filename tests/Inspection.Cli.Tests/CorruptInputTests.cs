using Inspection.TestSupport;

namespace Inspection.Cli.Tests;

/// <summary>
/// Truncated and bit-flipped pictures, videos and models given to <c>inspection detect</c>: each gives a clear
/// line (exit 2 for a file it cannot use, or exit 0 with what it could read), never a crash or a stack trace.
/// </summary>
public sealed class CorruptInputTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [SkippableFact]
    public async Task Truncated_and_bit_flipped_images_videos_and_models_never_crash_detect()
    {
        var model = SharedData.Require("models/yolov8n-int8-coco/yolov8n_int8.onnx");
        var image = SharedData.Require("media/bus.jpg");
        var video = SharedData.Require("media/traffic_cKuhn517_MIT.mp4");
        var random = new Random(20261201);
        var cases = TestScale.Pick(sample: 4, full: 40);
        var clip = _folder.File("clip.mp4");
        using (var ffmpeg = System.Diagnostics.Process.Start("ffmpeg", ["-v", "error", "-i", video, "-t", "2", "-c", "copy", "-movflags", "+faststart", clip]))
        {
            await ffmpeg.WaitForExitAsync(); // two seconds with the index first: a cut or flipped copy still opens, its frames break
        }

        for (var i = 0; i < cases; i++)
        {
            foreach (var (kind, original) in new[] { ("jpg", image), ("mp4", clip), ("onnx", model) })
            {
                var mutated = _folder.File($"case{i}.{kind}");
                File.WriteAllBytes(mutated, Mutate(random, File.ReadAllBytes(original), i));
                var result = kind == "onnx"
                    ? await CliRunner.RunAsync("detect", "--model", mutated, "--source", image, "--json")
                    : await CliRunner.RunAsync("detect", "--model", model, "--source", mutated, "--json");
                var what = $"{kind} case {i} (mutation {i % 3}): exit {result.ExitCode}\n{result.Stderr}";
                Assert.True(result.ExitCode is 0 or 2, what);
                Assert.DoesNotContain("Unhandled exception", result.Stderr, StringComparison.Ordinal);
                Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
                if (result.ExitCode == 2)
                {
                    Assert.True(result.Stderr.Split('\n').Count(l => l.StartsWith("inspection: ", StringComparison.Ordinal)) == 1, what); // one line says what is wrong
                }
            }
        }
    }

    /// <summary>Cut at a random point, a few hundred bytes flipped, or both.</summary>
    private static byte[] Mutate(Random random, byte[] bytes, int kind)
    {
        var copy = (byte[])bytes.Clone();
        if (kind % 3 != 1)
        {
            for (var flips = 0; flips < 300; flips++)
            {
                copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
            }
        }

        return kind % 3 == 0 ? copy : copy[..random.Next(1, copy.Length)];
    }
}

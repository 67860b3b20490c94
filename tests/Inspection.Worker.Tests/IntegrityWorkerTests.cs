using Inspection.Core;
using Inspection.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using OpenCvSharp;

namespace Inspection.Worker.Tests;

/// <summary>Every frame that reaches the detector has been examined: a black frame is never judged OK, however briefly it shows.</summary>
[Collection("Worker processes")]
public sealed class IntegrityWorkerTests
{
    [Fact]
    public async Task At_25_fps_no_black_frame_between_good_pictures_is_ok_and_the_good_pictures_keep_their_verdicts()
    {
        using var folder = new TempFolder();
        var pictures = Directory.GetFiles(InProcessSettings.DemoPictures, "*.jpg").Order(StringComparer.Ordinal).ToList();
        var mixed = Directory.CreateDirectory(folder.File("mixed")).FullName;
        for (var i = 0; i < pictures.Count; i++)
        {
            // Name order plays each demo picture, then a black picture of its size written as a JPEG.
            File.Copy(pictures[i], Path.Combine(mixed, $"{i:D3}a.jpg"));
            using var picture = Cv2.ImRead(pictures[i]);
            using var black = new Mat(picture.Size(), picture.Type(), Scalar.All(0));
            Assert.True(Cv2.ImWrite(Path.Combine(mixed, $"{i:D3}b.jpg"), black));
        }

        using var broker = ServerProcess.Mosquitto(folder.Path);
        var recording = new RecordingSink();
        var settings = InProcessSettings.Demo(folder, broker.Port, cameras: ["plain", "mixed"], fps: 25, loop: false);
        settings["Inspection:Cameras:1:Uri"] = mixed;
        await using (var worker = await InProcessWorker.StartAsync(settings, services => services.AddSingleton<IResultSink>(recording)))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (recording.Results.Count(r => r.Sequence > 0) < 3 * pictures.Count && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }

        var plain = Of("plain");
        var played = Of("mixed");
        Assert.Equal(pictures.Count, plain.Count);
        Assert.Equal(2 * pictures.Count, played.Count);
        Assert.Contains(plain, r => r.Verdict == Verdict.Ok); // so the black frames' verdict is no accident of the model
        for (var i = 0; i < pictures.Count; i++)
        {
            var (good, black) = (played[2 * i], played[(2 * i) + 1]);
            Assert.Equal((plain[i].Verdict, plain[i].Reason, FrameIntegrity.Ok), (good.Verdict, good.Reason, good.Integrity));
            Assert.Equal((Verdict.Unknown, "picture failed its integrity checks: black", FrameIntegrity.Black), (black.Verdict, black.Reason, black.Integrity));
        }

        List<InspectionResult> Of(string camera) => [.. recording.Results.Where(r => r.CameraId == camera && r.Sequence > 0).OrderBy(r => r.Sequence)];
    }
}

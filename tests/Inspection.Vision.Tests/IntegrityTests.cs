using System.Diagnostics;
using Inspection.Core;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Vision.Tests;

/// <summary>A covered, dead, frozen or defocused camera is flagged; a normal stream is not.</summary>
public sealed class IntegrityTests
{
    private static readonly IntegrityOptions Options = new() { FrozenAfter = TimeSpan.FromSeconds(1) };

    [SkippableFact]
    public void Frames_of_a_normal_stream_are_not_flagged()
    {
        var checker = new FrameIntegrityChecker(Options);
        var flagged = 0;
        var frames = 0;
        foreach (var (frame, timestamp) in TrafficFrames(200))
        {
            using (frame)
            {
                flagged += Check(checker, frame, timestamp) == FrameIntegrity.Ok ? 0 : 1;
                frames++;
            }
        }

        Assert.Equal(200, frames);
        Assert.Equal(0, flagged);
    }

    [SkippableFact]
    public void At_25_fps_every_black_or_blank_frame_between_good_ones_is_flagged()
    {
        var checker = new FrameIntegrityChecker(new IntegrityOptions());
        using var black = new Mat(360, 640, MatType.CV_8UC3, Scalar.All(0));
        using var blank = new Mat(360, 640, MatType.CV_8UC3, new Scalar(90, 120, 100));
        var tick = Stopwatch.Frequency / 25;
        var timestamp = Stopwatch.GetTimestamp();
        var flags = new List<(string Kind, FrameIntegrity Integrity)>();
        foreach (var (frame, _) in TrafficFrames(60))
        {
            using (frame)
            {
                flags.Add(("good", Check(checker, frame, timestamp += tick)));
                var (kind, bad) = flags.Count % 3 == 1 ? ("blank", blank) : ("black", black);
                flags.Add((kind, Check(checker, bad, timestamp += tick)));
            }
        }

        Assert.Equal(120, flags.Count);
        Assert.All(flags.Where(f => f.Kind == "good"), f => Assert.Equal(FrameIntegrity.Ok, f.Integrity));
        Assert.All(flags.Where(f => f.Kind == "black"), f => Assert.Equal(FrameIntegrity.Black, f.Integrity));
        Assert.All(flags.Where(f => f.Kind == "blank"), f => Assert.Equal(FrameIntegrity.Blank, f.Integrity));
    }

    [Fact]
    public void Checking_a_frame_allocates_nothing()
    {
        var checker = new FrameIntegrityChecker(Options);
        using var first = new Mat(720, 1280, MatType.CV_8UC3);
        using var second = new Mat(720, 1280, MatType.CV_8UC3);
        Cv2.Randu(first, Scalar.All(0), Scalar.All(255));
        Cv2.Randu(second, Scalar.All(0), Scalar.All(255));
        var views = new[] { FrameCollector.View(first), FrameCollector.View(second) };
        var timestamp = Stopwatch.GetTimestamp();
        checker.Check(views[0], timestamp); // sizes the buffers

        var flagged = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 1; i <= 100; i++)
        {
            flagged += checker.Check(views[i % 2], timestamp + (i * Stopwatch.Frequency / 25)) == FrameIntegrity.Ok ? 0 : 1;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(0, flagged);
    }

    [Fact]
    public void Black_and_blank_frames_are_flagged()
    {
        var checker = new FrameIntegrityChecker(Options);
        using var black = new Mat(720, 1280, MatType.CV_8UC3, Scalar.All(3));
        using var grey = new Mat(720, 1280, MatType.CV_8UC3, new Scalar(128, 130, 129));
        using var white = new Mat(720, 1280, MatType.CV_8UC3, Scalar.All(255));
        using var blackGray = new Mat(480, 640, MatType.CV_8UC1, Scalar.All(5));
        using var blackBgra = new Mat(200, 200, MatType.CV_8UC4, Scalar.All(1));
        var now = Stopwatch.GetTimestamp();

        var second = Stopwatch.Frequency;
        Assert.True(Check(checker, black, now).HasFlag(FrameIntegrity.Black));
        Assert.True(Check(checker, grey, now + second).HasFlag(FrameIntegrity.Blank));
        Assert.True(Check(checker, white, now + (2 * second)).HasFlag(FrameIntegrity.Blank));
        Assert.True(Check(checker, blackGray, now + (3 * second)).HasFlag(FrameIntegrity.Black));
        Assert.True(Check(checker, blackBgra, now + (4 * second)).HasFlag(FrameIntegrity.Black));
    }

    [SkippableFact]
    public void A_badly_defocused_frame_is_flagged()
    {
        var checker = new FrameIntegrityChecker(Options);
        var (frame, timestamp) = TrafficFrames(1).Single();
        using (frame)
        using (var blurred = frame.GaussianBlur(new Size(0, 0), 8))
        {
            Assert.Equal(FrameIntegrity.Ok, Check(checker, frame, timestamp));
            Assert.Equal(FrameIntegrity.Blurred, Check(checker, blurred, timestamp + Stopwatch.Frequency));
        }
    }

    [SkippableFact]
    public void A_picture_that_stops_changing_is_frozen_after_the_configured_time()
    {
        var checker = new FrameIntegrityChecker(Options);
        var (frame, start) = TrafficFrames(1).Single();
        using (frame)
        {
            var tick = Stopwatch.Frequency / 10; // 10 frames per second of the same picture
            var flags = Enumerable.Range(0, 25).Select(i => Check(checker, frame, start + (i * tick))).ToList();

            Assert.All(flags.Take(10), f => Assert.Equal(FrameIntegrity.Ok, f)); // unchanged for less than a second
            Assert.All(flags.Skip(11), f => Assert.Equal(FrameIntegrity.Frozen, f));
        }
    }

    private static FrameIntegrity Check(FrameIntegrityChecker checker, Mat frame, long timestamp) => checker.Check(FrameCollector.View(frame), timestamp);

    private static IEnumerable<(Mat Frame, long Timestamp)> TrafficFrames(int count)
    {
        using var capture = new VideoCapture(SharedData.Require("media/traffic_cKuhn517_MIT.mp4"));
        var timestamp = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            var frame = new Mat();
            if (!capture.Read(frame))
            {
                frame.Dispose();
                yield break;
            }

            yield return (frame, timestamp + (i * Stopwatch.Frequency / 10));
        }
    }
}

using System.Diagnostics;
using Inspection.Core;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Vision.Tests;

/// <summary>A covered, dead, frozen or defocused camera is flagged; a normal stream is not.</summary>
public sealed class IntegrityTests
{
    private static readonly IntegrityOptions Options = new() { FrozenAfter = TimeSpan.FromSeconds(1), ChecksPerSecond = 1000 };

    [SkippableFact]
    public void Frames_of_a_normal_stream_are_not_flagged()
    {
        using var checker = new FrameIntegrityChecker(Options);
        var flagged = 0;
        var frames = 0;
        foreach (var (frame, timestamp) in TrafficFrames(200))
        {
            using (frame)
            {
                flagged += checker.Check(frame, timestamp) == FrameIntegrity.Ok ? 0 : 1;
                frames++;
            }
        }

        Assert.Equal(200, frames);
        Assert.Equal(0, flagged);
    }

    [Fact]
    public void Between_checks_frames_carry_the_last_result()
    {
        using var checker = new FrameIntegrityChecker(new IntegrityOptions { ChecksPerSecond = 5 });
        using var black = new Mat(90, 160, MatType.CV_8UC3, Scalar.All(0));
        using var grey = new Mat(90, 160, MatType.CV_8UC3, Scalar.All(128));
        var now = Stopwatch.GetTimestamp();

        Assert.Equal(FrameIntegrity.Black, checker.Check(black, now));
        Assert.Equal(FrameIntegrity.Black, checker.Check(grey, now + (Stopwatch.Frequency / 10))); // 100 ms later: not examined
        Assert.Equal(FrameIntegrity.Blank, checker.Check(grey, now + (Stopwatch.Frequency / 4)));  // 250 ms later: examined
    }

    [Fact]
    public void Black_and_blank_frames_are_flagged()
    {
        using var checker = new FrameIntegrityChecker(Options);
        using var black = new Mat(720, 1280, MatType.CV_8UC3, Scalar.All(3));
        using var grey = new Mat(720, 1280, MatType.CV_8UC3, new Scalar(128, 130, 129));
        using var white = new Mat(720, 1280, MatType.CV_8UC3, Scalar.All(255));
        var now = Stopwatch.GetTimestamp();

        var second = Stopwatch.Frequency;
        Assert.True(checker.Check(black, now).HasFlag(FrameIntegrity.Black));
        Assert.True(checker.Check(grey, now + second).HasFlag(FrameIntegrity.Blank));
        Assert.True(checker.Check(white, now + (2 * second)).HasFlag(FrameIntegrity.Blank));
    }

    [SkippableFact]
    public void A_badly_defocused_frame_is_flagged()
    {
        using var checker = new FrameIntegrityChecker(Options);
        var (frame, timestamp) = TrafficFrames(1).Single();
        using (frame)
        using (var blurred = frame.GaussianBlur(new Size(0, 0), 8))
        {
            Assert.Equal(FrameIntegrity.Ok, checker.Check(frame, timestamp));
            Assert.Equal(FrameIntegrity.Blurred, checker.Check(blurred, timestamp + Stopwatch.Frequency));
        }
    }

    [SkippableFact]
    public void A_picture_that_stops_changing_is_frozen_after_the_configured_time()
    {
        using var checker = new FrameIntegrityChecker(Options);
        var (frame, start) = TrafficFrames(1).Single();
        using (frame)
        {
            var tick = Stopwatch.Frequency / 10; // 10 frames per second of the same picture
            var flags = Enumerable.Range(0, 25).Select(i => checker.Check(frame, start + (i * tick))).ToList();

            Assert.All(flags.Take(10), f => Assert.Equal(FrameIntegrity.Ok, f)); // unchanged for less than a second
            Assert.All(flags.Skip(11), f => Assert.Equal(FrameIntegrity.Frozen, f));
        }
    }

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

using Inspection.Core;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Vision.Tests;

public sealed class FileSourceTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static string Traffic => SharedData.Require("media/traffic_cKuhn517_MIT.mp4");

    [SkippableFact]
    public async Task A_variable_rate_video_gives_each_decodable_frame_once_in_order()
    {
        // ffprobe -count_frames: 754 packets, 734 decodable frames. A fixed-rate resampler would invent duplicates.
        var expected = new List<string>();
        using (var capture = new VideoCapture(Traffic))
        using (var mat = new Mat())
        {
            while (capture.Read(mat) && !mat.Empty())
            {
                expected.Add(FrameCollector.Hash(mat));
            }
        }

        Assert.Equal(734, expected.Count);
        await using var source = new CameraSource(new CameraOptions { Id = "traffic", Uri = Traffic, Policy = BufferPolicy.DeliverAll, Realtime = false });
        await using var collector = new FrameCollector(source, hash: true);
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromMinutes(2));
        await collector.Completion.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SourceState.Stopped, source.State);
        Assert.Equal("end of the file", source.Status.Reason);
        Assert.Equal(expected, collector.Frames.Select(f => f.Hash));
        Assert.Equal(Enumerable.Range(1, 734).Select(i => (long)i), collector.Frames.Select(f => f.Sequence));
        Assert.Equal(new SourceCounters(734, 0, 734, 734), source.Counters);
        Assert.All(collector.Frames, f => Assert.Equal((640, 360), (f.Width, f.Height)));
    }

    [SkippableFact]
    public async Task Through_ffmpeg_the_same_video_also_gives_each_frame_once()
    {
        await using var source = new CameraSource(new CameraOptions { Id = "traffic", Uri = Traffic, Kind = SourceKind.Ffmpeg, Policy = BufferPolicy.DeliverAll, Realtime = false });
        await using var collector = new FrameCollector(source, hash: true);
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromMinutes(2));
        await collector.Completion.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(734, collector.Count);
        var duplicates = collector.Frames.Zip(collector.Frames.Skip(1)).Count(pair => pair.First.Hash == pair.Second.Hash);
        Assert.Equal(0, duplicates);
    }

    [SkippableFact]
    public async Task A_slow_consumer_of_a_live_source_gets_the_newest_frames_and_the_drops_are_counted()
    {
        var options = new CameraOptions { Id = "live", Uri = Traffic, Realtime = false, BufferCapacity = 2, MaxFramesInFlight = 2 };
        await using var source = new CameraSource(options);
        await using var collector = new FrameCollector(source, holdEachFrame: TimeSpan.FromMilliseconds(20));
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromMinutes(1));
        await Task.Delay(200);

        var counters = source.Counters;
        Assert.Equal(734, counters.Read);
        Assert.True(counters.Dropped > 100, $"dropped {counters.Dropped}");
        Assert.Equal(counters.Read - counters.Dropped, counters.Delivered);
        Assert.Equal(counters.Delivered, collector.Count);
        Assert.True(collector.Frames.Zip(collector.Frames.Skip(1)).All(p => p.Second.Sequence > p.First.Sequence), "frames stay in order");
    }

    [SkippableTheory]
    [InlineData(BufferPolicy.DropOldest)]
    [InlineData(BufferPolicy.DeliverAll)]
    public async Task Frames_still_in_a_stopped_cameras_buffer_are_counted_as_dropped(BufferPolicy policy)
    {
        // Nobody takes frames: the buffer fills, then the camera stops with them in it (and, holding the source
        // back, with one more read and waiting to go in).
        var options = new CameraOptions { Id = "stopped", Uri = Traffic, Realtime = false, BufferCapacity = 2, Policy = policy };
        var source = new CameraSource(options);
        source.Start();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (source.Counters.Read < 3 || source.Frames.Count < 2)
        {
            await Task.Delay(20, timeout.Token);
        }

        await source.DisposeAsync();
        var counters = source.Counters;
        Assert.Equal(0, counters.Delivered);
        Assert.Equal(counters.Read, counters.Dropped);
    }

    [SkippableFact]
    public async Task A_rate_capped_camera_keeps_every_fifth_frame_of_25_fps_and_does_not_decode_most_of_the_others()
    {
        // The traffic video's own rate varies (about 10 fps): its frames retimed to a steady 25 fps, as a camera sends them.
        var steady = _folder.File("traffic-25fps.mp4");
        Ffmpeg("-i", Traffic, "-frames:v", "150", "-vf", "setpts=N/(25*TB)", "-r", "25", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an", steady);
        await using var source = new CameraSource(new CameraOptions { Id = "capped", Uri = steady, Realtime = true, MaxFps = 5 });
        await using var collector = new FrameCollector(source);
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromSeconds(60));
        await collector.Completion.WaitAsync(TimeSpan.FromSeconds(30));

        // 95% of 1/5 s since the last kept frame has passed at every fifth frame.
        var gaps = collector.Frames.Zip(collector.Frames.Skip(1)).Select(p => p.Second.Sequence - p.First.Sequence).ToList();
        var counters = source.Counters;
        Assert.True(gaps.Count(gap => gap == 5) >= gaps.Count * 0.8, $"gaps between kept frames: {string.Join(",", gaps)}; {counters}");

        // Once the camera has measured its rate (after its first second), a frame the cap will drop is not decoded.
        Assert.Equal(150, counters.Read);
        var dropped = counters.Read - counters.Delivered;
        Assert.True(counters.Decoded - counters.Delivered < dropped / 2, $"{counters}");
    }

    [SkippableFact]
    public async Task A_camera_reads_and_decodes_below_the_detector_and_its_decoder_threads_inherit_that()
    {
        await using var source = new CameraSource(new CameraOptions { Id = "nicecam", Uri = Traffic, Realtime = true, Nice = 7 });
        await using var collector = new FrameCollector(source);
        source.Start();
        await Waiting.WaitUntil(() => collector.Count > 2, "frames", TimeSpan.FromSeconds(30));

        // Linux keeps a nice value per thread (/proc/self/task/TID/stat, field 19). Threads the camera's thread starts
        // (the decoder's) inherit its name as well as its nice value; the process's main thread keeps its 0.
        var threads = Directory.GetDirectories("/proc/self/task").Select(task => (Name: File.ReadAllText(Path.Combine(task, "comm")).Trim(), Nice: Nice(task))).ToList();
        var camera = threads.Where(t => t.Name == "camera-nicecam").ToList();
        Assert.NotEmpty(camera);
        Assert.All(camera, t => Assert.Equal(7, t.Nice));
        Assert.Equal(0, Nice($"/proc/self/task/{Environment.ProcessId}"));

        static int Nice(string task)
        {
            var stat = File.ReadAllText(Path.Combine(task, "stat"));
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    [SkippableFact]
    public async Task A_looping_file_starts_again_at_its_end()
    {
        await using var source = new CameraSource(new CameraOptions { Id = "loop", Uri = Traffic, Loop = true, Realtime = false, Policy = BufferPolicy.DeliverAll });
        await using var collector = new FrameCollector(source);
        source.Start();
        Assert.True(await collector.WaitForAsync(800, TimeSpan.FromMinutes(1)));
        Assert.Equal(SourceState.Streaming, source.State);
    }

    [Fact]
    public async Task A_missing_file_stops_that_camera_with_a_clear_reason()
    {
        await using var source = new CameraSource(new CameraOptions { Id = "gone", Uri = _folder.File("nothing.mp4") });
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(SourceState.Stopped, source.State);
        Assert.Contains("nothing.mp4' does not exist", source.Status.Reason);
    }

    [Fact]
    public async Task A_folder_of_images_plays_in_name_order_and_skips_a_corrupt_one()
    {
        for (var i = 0; i < 4; i++)
        {
            using var image = new Mat(48, 64, MatType.CV_8UC3, Scalar.All(40 * (i + 1)));
            Cv2.ImWrite(_folder.File($"part{i}.png"), image);
        }

        File.WriteAllText(_folder.File("part2b.png"), "not a picture");
        await using var source = new CameraSource(new CameraOptions { Id = "folder", Uri = _folder.Path, FolderFps = 50, Policy = BufferPolicy.DeliverAll });
        await using var collector = new FrameCollector(source, hash: true);
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromSeconds(20));
        await collector.Completion.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(4, collector.Count);
        Assert.All(collector.Frames, f => Assert.Equal((64, 48), (f.Width, f.Height)));
        Assert.Equal(4, collector.Frames.Select(f => f.Hash).Distinct().Count());
    }

    [Fact]
    public async Task A_stream_whose_size_changes_keeps_its_first_size_through_ffmpeg()
    {
        // Two H.264 transport streams of different sizes, joined: one stream that changes size half way.
        var joined = _folder.File("joined.ts");
        Ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-frames:v", "20", "-c:v", "libx264", "-pix_fmt", "yuv420p", _folder.File("a.ts"));
        Ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-frames:v", "20", "-c:v", "libx264", "-pix_fmt", "yuv420p", _folder.File("b.ts"));
        File.WriteAllBytes(joined, [.. File.ReadAllBytes(_folder.File("a.ts")), .. File.ReadAllBytes(_folder.File("b.ts"))]);

        await using var source = new CameraSource(new CameraOptions { Id = "resized", Uri = joined, Kind = SourceKind.Ffmpeg, Policy = BufferPolicy.DeliverAll, Realtime = false });
        await using var collector = new FrameCollector(source);
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        await collector.Completion.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(40, collector.Count);
        Assert.All(collector.Frames, f => Assert.Equal((320, 240), (f.Width, f.Height)));
    }

    [Fact]
    public async Task A_missing_device_is_retried_and_says_what_may_be_wrong()
    {
        await using var source = new CameraSource(new CameraOptions { Id = "usb", Uri = "/dev/video97", ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) });
        var reconnecting = new TaskCompletionSource<SourceStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        source.StatusChanged += (_, s) =>
        {
            if (s.State == SourceState.Reconnecting)
            {
                reconnecting.TrySetResult(s);
            }
        };
        source.Start();
        var status = await reconnecting.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("device /dev/video97 cannot be opened: it is missing, busy, or this user may not read it", status.Reason);
    }

    [Fact]
    public async Task Without_ffmpeg_a_stream_camera_stops_and_says_how_to_fix_it()
    {
        await using var source = new CameraSource(new CameraOptions { Id = "rtsp", Uri = "rtsp://127.0.0.1:9/x", FfmpegPath = "/nonexistent/ffmpeg" });
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(SourceState.Stopped, source.State);
        Assert.Contains("apt-get install ffmpeg", source.Status.Reason);
    }

    internal static void Ffmpeg(params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-hide_banner", "-loglevel", "error", "-y" }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"ffmpeg {string.Join(' ', args)}: {error}");
    }
}

using System.Diagnostics;
using Inspection.Core;
using Inspection.TestSupport;

namespace Inspection.Vision.Tests;

/// <summary>Real servers measure frame rates: they run alone, not beside the other test classes.</summary>
[CollectionDefinition(nameof(RealServerTests), DisableParallelization = true)]
public sealed class RealServerCollection;

/// <summary>Cameras against real servers on 127.0.0.1: GStreamer's RTSP server and ffmpeg's MJPEG server.</summary>
[Trait("Category", "RealServer")]
[Collection(nameof(RealServerTests))]
public sealed class RealServerTests
{
    private static CameraOptions Rtsp(string id, ServerProcess server) => new()
    {
        Id = id,
        Uri = server.RtspUrl,
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(200),
        ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        StallTimeout = TimeSpan.FromSeconds(2),
        ConnectTimeout = TimeSpan.FromSeconds(3),
    };

    [Fact]
    public async Task An_RTSP_stream_is_read_live_and_comes_back_after_its_server_restarts()
    {
        using var server = ServerProcess.Rtsp(fps: 25);
        var states = new List<SourceState>();
        await using (var source = new CameraSource(Rtsp("line1", server)))
        {
            source.StatusChanged += (_, s) =>
            {
                lock (states)
                {
                    states.Add(s.State);
                }
            };
            await using var collector = new FrameCollector(source);
            source.Start();
            Assert.True(await collector.WaitForAsync(10, TimeSpan.FromSeconds(20)), "no frames from the RTSP server");

            var (from, readFrom) = (Stopwatch.GetTimestamp(), source.Counters.Read);
            await Task.Delay(TimeSpan.FromSeconds(3));
            var rate = (source.Counters.Read - readFrom) / Stopwatch.GetElapsedTime(from).TotalSeconds;
            Assert.InRange(rate, 22.5, 27.5); // the server's live 25 frames/s
            Assert.Equal(source.Counters.Read, collector.Count + source.Counters.Dropped + source.Frames.Count);

            server.Kill();
            await WaitUntil(() => source.State == SourceState.Reconnecting, TimeSpan.FromSeconds(10), "the source to notice the server is gone");
            var before = collector.Count;

            server.Start();
            var up = Stopwatch.StartNew();
            Assert.True(await collector.WaitForAsync(before + 1, TimeSpan.FromSeconds(15)), "frames did not come back");
            Assert.True(up.Elapsed < TimeSpan.FromSeconds(5), $"frames came back {up.Elapsed.TotalSeconds:0.0} s after the server was up");
            Assert.Equal(SourceState.Streaming, source.State);
        }

        lock (states)
        {
            Assert.Equal(SourceState.Streaming, states[0]); // a source starts out Connecting
            Assert.Contains(SourceState.Reconnecting, states);
            Assert.Equal(SourceState.Stopped, states[^1]);
        }

        await WaitUntil(() => ServerProcess.ProcessesWith($"127.0.0.1:{server.Port}/stream").Count == 0, TimeSpan.FromSeconds(5), "ffmpeg to exit");
    }

    [Fact]
    public async Task Two_cameras_one_killed_the_other_keeps_its_frame_rate()
    {
        // Small pictures, so that two encoders and two decoders leave this 2-core machine idle enough to measure.
        using var first = ServerProcess.Rtsp(320, 180, fps: 15);
        using var second = ServerProcess.Rtsp(320, 180, fps: 15);
        await using var a = new CameraSource(Rtsp("a", first));
        await using var b = new CameraSource(Rtsp("b", second));
        await using var collectA = new FrameCollector(a);
        await using var collectB = new FrameCollector(b);
        a.Start();
        b.Start();
        Assert.True(await collectA.WaitForAsync(10, TimeSpan.FromSeconds(20)) && await collectB.WaitForAsync(10, TimeSpan.FromSeconds(20)), "both cameras should stream");
        await Task.Delay(TimeSpan.FromSeconds(2)); // past the start-up burst of both streams

        // The camera's own rate: frames read from its stream, whatever the consumer does with them.
        var (start, readAtStart) = (Stopwatch.GetTimestamp(), a.Counters.Read);
        await Task.Delay(TimeSpan.FromSeconds(4));
        var (killed, readAtKill) = (Stopwatch.GetTimestamp(), a.Counters.Read);
        second.Kill();
        await Task.Delay(TimeSpan.FromSeconds(4));
        var (end, readAtEnd) = (Stopwatch.GetTimestamp(), a.Counters.Read);

        var before = (readAtKill - readAtStart) / Stopwatch.GetElapsedTime(start, killed).TotalSeconds;
        var after = (readAtEnd - readAtKill) / Stopwatch.GetElapsedTime(killed, end).TotalSeconds;
        Assert.True(Math.Abs(after - before) <= 0.1 * before, $"camera a: {before:0.0} frames/s before, {after:0.0} after camera b died");
        Assert.Equal(SourceState.Streaming, a.State);
        Assert.NotEqual(SourceState.Streaming, b.State);
    }

    [Fact]
    public async Task Wrong_RTSP_credentials_say_so()
    {
        using var server = ServerProcess.Rtsp(user: "operator", password: "s3cret");
        var options = Rtsp("secured", server);
        options.Username = "operator";
        options.Password = "wrong";
        await using var source = new CameraSource(options);
        source.Start();
        await WaitUntil(() => source.State == SourceState.Reconnecting, TimeSpan.FromSeconds(15), "the camera to fail");
        Assert.Contains("401 Unauthorized: the username or password is wrong", source.Status.Reason);
        Assert.DoesNotContain("wrong@", source.Status.Reason);

        options.Password = "s3cret";
        await using var right = new CameraSource(options);
        await using var collector = new FrameCollector(right);
        right.Start();
        Assert.True(await collector.WaitForAsync(5, TimeSpan.FromSeconds(20)));
    }

    [SkippableFact]
    public async Task HTTP_MJPEG_from_a_real_server_is_read()
    {
        using var server = ServerProcess.Mjpeg(SharedData.Require("media/traffic_cKuhn517_MIT.mp4"));
        await using var source = new CameraSource(new CameraOptions { Id = "mjpeg", Uri = $"http://127.0.0.1:{server.Port}/stream.mjpg" });
        await using var collector = new FrameCollector(source, hash: true);
        source.Start();
        Assert.True(await collector.WaitForAsync(20, TimeSpan.FromSeconds(20)), $"{source.Status.Reason}; server: {string.Join('\n', server.Output)}");
        Assert.Equal("mjpeg", source.Stream?.Codec);
        Assert.All(collector.Frames.Take(20), f => Assert.Equal((640, 360), (f.Width, f.Height)));
        Assert.True(collector.Frames.Take(20).Select(f => f.Hash).Distinct().Count() > 1);
    }

    [Fact]
    public async Task An_MJPEG_address_that_serves_a_web_page_is_refused_clearly()
    {
        var port = ServerProcess.FreePort();
        using var listener = new System.Net.HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        _ = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            context.Response.ContentType = "text/html";
            await context.Response.OutputStream.WriteAsync("<html>login</html>"u8.ToArray());
            context.Response.Close();
        });

        await using var source = new CameraSource(new CameraOptions { Id = "web", Uri = $"http://127.0.0.1:{port}/" });
        source.Start();
        await source.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("is not a multipart MJPEG stream (Content-Type: text/html)", source.Status.Reason);
    }

    [Fact]
    public async Task Ffmpeg_dies_with_the_process_that_started_it()
    {
        using var server = ServerProcess.Rtsp();
        var cli = CliRunner.CliPath;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli, "sources", "probe", server.RtspUrl, "--frames", "100000", "--timeout", "600" })
        {
            start.ArgumentList.Add(arg);
        }

        using var probe = Process.Start(start)!;
        var marker = $"127.0.0.1:{server.Port}/stream";
        await WaitUntil(() => ServerProcess.ProcessesWith(marker).Any(pid => pid != probe.Id), TimeSpan.FromSeconds(20), "the probe to start ffmpeg");

        probe.Kill(); // SIGKILL: no chance to clean up; the kernel's parent-death signal must end ffmpeg
        await probe.WaitForExitAsync();
        await WaitUntil(() => ServerProcess.ProcessesWith(marker).Count == 0, TimeSpan.FromSeconds(5), "ffmpeg to die with its parent");
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < timeout, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Web.Tests;

/// <summary>Live frames over real HTTP: latest.jpg, and an MJPEG stream that never queues for a slow client.</summary>
public sealed class LiveTests
{
    [Fact]
    public async Task TheLatestFrameDecodesAtTheCamerasRatioWithItsHeaders()
    {
        await using var web = await WebApp.StartAsync(o => (o.Live.MaxWidth, o.Live.Fps, o.Live.MaxFps) = (320, 50, 50));
        using var sam = await web.SignedInAsync("sam");
        Assert.Equal(HttpStatusCode.NotFound, (await sam.GetAsync("/api/cameras/nope/latest.jpg")).StatusCode);
        using var none = await sam.GetAsync("/api/cameras/cam1/latest.jpg");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, none.StatusCode); // armed by that request, no frame yet
        Assert.Equal(TimeSpan.FromSeconds(1), none.Headers.RetryAfter!.Delta);

        Offer(web.Live, "cam1", 7, Noise(640, 480));
        using var latest = await sam.GetAsync("/api/cameras/cam1/latest.jpg");
        Assert.Equal(HttpStatusCode.OK, latest.StatusCode);
        Assert.Equal("image/jpeg", latest.Content.Headers.ContentType!.MediaType);
        Assert.Equal("640x480", latest.Headers.GetValues("X-Source-Size").Single());
        Assert.Equal("7", latest.Headers.GetValues("X-Frame-Sequence").Single());
        Assert.Equal("NG", latest.Headers.GetValues("X-Verdict").Single());
        using var picture = Cv2.ImDecode(await latest.Content.ReadAsByteArrayAsync(), ImreadModes.Color);
        Assert.Equal((320, 240), (picture.Width, picture.Height));

        // a long poll for a newer version waits for it
        var version = latest.Headers.GetValues("X-Frame-Version").Single();
        var newer = sam.GetAsync($"/api/cameras/cam1/latest.jpg?after={version}");
        await Task.Delay(200);
        Offer(web.Live, "cam1", 8, Noise(640, 480));
        using var next = await newer;
        Assert.Equal("8", next.Headers.GetValues("X-Frame-Sequence").Single());
    }

    [Fact]
    public void TheTapTakesNothingUnwatchedAndNoMoreThanTheRate()
    {
        var live = new LiveFrames(new WebOptions { Live = { Fps = 5, MaxFps = 10 } });
        var now = Stopwatch.GetTimestamp();
        Assert.False(live.Wants("cam1", now));

        live.Arm("cam1", now);
        Assert.True(live.Wants("cam1", now));
        live.Slot("cam1").Pending = false; // as if the encoder had taken it
        Assert.False(live.Wants("cam1", now + (Stopwatch.Frequency / 10))); // armed only: 5/s
        Assert.True(live.Wants("cam1", now + (Stopwatch.Frequency / 5)));
        live.Slot("cam1").Pending = false;

        using var watching = live.Slot("cam1").Watch();
        var later = now + (Stopwatch.Frequency / 5);
        Assert.True(live.Wants("cam1", later + (Stopwatch.Frequency / 10))); // a stream open: 10/s
        Assert.False(live.Wants("cam1", later + (Stopwatch.Frequency / 10) + 1)); // still pending: skipped
    }

    [Fact]
    public async Task ASlowStreamClientGetsFewerNewerFramesNotABacklog()
    {
        await using var web = await WebApp.StartAsync(o => o.Live.MaxFps = 50);
        using var sam = await web.SignedInAsync("sam");
        using var response = await sam.GetAsync("/api/cameras/cam1/stream.mjpg?fps=50", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("multipart/x-mixed-replace", response.Content.Headers.ContentType!.MediaType);
        using var stream = await response.Content.ReadAsStreamAsync();

        // 4 s of frames at up to 50/s while the client reads nothing
        using var frame = Noise(1280, 720);
        var sequence = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(4))
        {
            Offer(web.Live, "cam1", ++sequence, frame);
            await Task.Delay(5);
        }

        // The encoder may still be on the last frame offered: the newest is the version it settles on.
        long newest;
        do
        {
            newest = web.Live.Slot("cam1").Frame!.Version;
            await Task.Delay(200);
        }
        while (web.Live.Slot("cam1").Frame!.Version != newest);
        Assert.True(newest > 60, $"the encoder made {newest} frames in 4 s");

        var versions = new List<long>();
        while (versions.LastOrDefault() < newest)
        {
            versions.Add(await NextPartVersionAsync(stream));
        }

        Assert.True(versions.Count < newest / 2, $"the slow client got {versions.Count} of {newest} frames: a backlog, not the newest");
        Assert.Equal(newest, versions[^1]);
        Assert.Equal(versions.Order(), versions);
    }

    private static void Offer(LiveFrames live, string camera, long sequence, Mat picture)
    {
        if (!live.Wants(camera, Stopwatch.GetTimestamp()))
        {
            return;
        }

        var bytes = new byte[picture.Total() * picture.ElemSize()];
        System.Runtime.InteropServices.Marshal.Copy(picture.Data, bytes, 0, bytes.Length);
        var result = WebApp.Result(camera, sequence, Verdict.Ng) with { Width = picture.Width, Height = picture.Height };
        live.Take(new ImageView(bytes, picture.Width, picture.Height, 3), result);
    }

    private static Mat Noise(int width, int height)
    {
        var picture = new Mat(height, width, MatType.CV_8UC3);
        Cv2.Randu(picture, Scalar.All(0), Scalar.All(255));
        return picture;
    }

    /// <summary>Reads one multipart part and returns its X-Frame-Version.</summary>
    private static async Task<long> NextPartVersionAsync(Stream stream)
    {
        long version = -1, length = -1;
        string line;
        while ((line = await ReadLineAsync(stream)).Length > 0 || version < 0)
        {
            if (line.StartsWith("Content-Length: ", StringComparison.Ordinal)) length = long.Parse(line[16..], CultureInfo.InvariantCulture);
            if (line.StartsWith("X-Frame-Version: ", StringComparison.Ordinal)) version = long.Parse(line[17..], CultureInfo.InvariantCulture);
        }

        var jpeg = new byte[length];
        await stream.ReadExactlyAsync(jpeg);
        Assert.Equal(0xFF, jpeg[0]);
        return version;
    }

    private static async Task<string> ReadLineAsync(Stream stream)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await stream.ReadAsync(one, timeout.Token) == 1 && one[0] != '\n')
        {
            if (one[0] != '\r') line.Append((char)one[0]);
        }

        return line.ToString();
    }
}

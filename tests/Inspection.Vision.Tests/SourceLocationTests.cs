using Inspection.Vision;

namespace Inspection.Vision.Tests;

public sealed class SourceLocationTests
{
    [Theory]
    [InlineData("rtsp://10.0.0.5:554/stream1", SourceKind.Ffmpeg)]
    [InlineData("rtsps://cam.local/live", SourceKind.Ffmpeg)]
    [InlineData("rtmp://127.0.0.1/live/cam", SourceKind.Ffmpeg)]
    [InlineData("srt://127.0.0.1:9000", SourceKind.Ffmpeg)]
    [InlineData("https://cam.local/hls/index.m3u8?token=1", SourceKind.Ffmpeg)]
    [InlineData("http://cam.local/mjpg/video.mjpg", SourceKind.Mjpeg)]
    [InlineData("/dev/video0", SourceKind.Device)]
    [InlineData("device:1", SourceKind.Device)]
    [InlineData("/data/line1/part.mp4", SourceKind.File)]
    [InlineData("file:///data/line1/part.mp4", SourceKind.File)]
    [InlineData("/data/parts/*.jpg", SourceKind.Folder)]
    public void The_kind_follows_from_the_uri(string uri, SourceKind expected) =>
        Assert.Equal(expected, SourceLocation.Resolve(new CameraOptions { Id = "c", Uri = uri }).Kind);

    [Fact]
    public void An_existing_folder_is_a_folder_source() =>
        Assert.Equal(SourceKind.Folder, SourceLocation.Resolve(new CameraOptions { Id = "c", Uri = Path.GetTempPath() }).Kind);

    [Fact]
    public void An_unknown_scheme_is_a_clear_permanent_error()
    {
        var e = Assert.Throws<SourceException>(() => SourceLocation.Resolve(new CameraOptions { Id = "cam7", Uri = "gopher://x/y" }));
        Assert.False(e.Retryable);
        Assert.Contains("cam7", e.Message);
        Assert.Contains("unknown scheme 'gopher://'", e.Message);
    }

    [Fact]
    public void Credentials_reach_ffmpeg_but_never_the_display_form()
    {
        var location = SourceLocation.Resolve(new CameraOptions { Id = "c", Uri = "rtsp://10.0.0.5/s", Username = "op", Password = "p@ss:word" });
        Assert.Contains("op:p%40ss%3Aword@", location.Target);
        Assert.DoesNotContain("word", location.Display);

        var inline = SourceLocation.Resolve(new CameraOptions { Id = "c", Uri = "rtsp://admin:secret@10.0.0.5/s" });
        Assert.Equal("rtsp://admin:***@10.0.0.5/s", inline.Display);
    }
}

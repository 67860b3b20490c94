using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Cli.Tests;

public sealed class SourcesCommandTests
{
    [SkippableFact]
    public async Task Probe_prints_size_rate_codec_and_time_to_the_first_frame_as_json()
    {
        var video = SharedData.Require("media/traffic_cKuhn517_MIT.mp4");
        var result = await CliRunner.RunAsync("sources", "probe", video, "--frames", "12", "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal(video, root.GetProperty("uri").GetString());
        Assert.Equal(640, root.GetProperty("width").GetInt32());
        Assert.Equal(360, root.GetProperty("height").GetInt32());
        Assert.Equal(12, root.GetProperty("frames").GetInt32());
        Assert.Equal("h264", root.GetProperty("codec").GetString());
        Assert.InRange(root.GetProperty("fps").GetDouble(), 5, 20); // the file plays at its own variable ~10 frames/s
        Assert.True(root.GetProperty("firstFrameMs").GetDouble() > 0);
    }

    [Theory]
    [InlineData("gopher://camera/stream", "unknown scheme 'gopher://'")]
    [InlineData("rtsp://127.0.0.1:9/stream", "connection refused")]
    [InlineData("/nonexistent/line1.mp4", "does not exist")]
    public async Task Probe_of_a_bad_source_prints_one_clear_line_and_exits_2(string uri, string expected)
    {
        var result = await CliRunner.RunAsync("sources", "probe", uri, "--frames", "5", "--timeout", "20");

        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.Stderr}");
        Assert.Contains(expected, result.Stderr);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty(result.Stdout);
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Inspection.Core;
using Inspection.Vision;
using Microsoft.Extensions.Logging;

namespace Inspection.Cli;

/// <summary><c>inspection sources probe</c>: opens a camera URI, reads a few frames, and says what it found.</summary>
internal static class SourcesCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("uri") { Description = "rtsp://..., http(s)://... (MJPEG or HLS), a video file, an image folder, /dev/video0." };
        var frames = new Option<int>("--frames", "-n") { Description = "Frames to read.", DefaultValueFactory = _ => 30 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the frames.", DefaultValueFactory = _ => 30 };
        var kind = new Option<SourceKind>("--kind") { Description = "How to read the URI (Auto decides from it).", DefaultValueFactory = _ => SourceKind.Auto };
        var transport = new Option<RtspTransport>("--transport") { Description = "RTSP transport.", DefaultValueFactory = _ => RtspTransport.Tcp };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log the source's state changes." };

        var probe = new Command("probe", "Read frames from a camera URI and print its size, frame rate, codec and time to the first frame.")
        {
            uri, frames, json, timeout, kind, transport, verbose,
        };
        probe.SetAction(async (parse, cancel) =>
        {
            var count = parse.GetValue(frames);
            if (count is < 2 or > 100_000)
            {
                throw new InspectionInputException($"--frames {count} is outside 2..100000.");
            }

            var options = new CameraOptions
            {
                Id = "probe",
                Uri = parse.GetValue(uri)!,
                Kind = parse.GetValue(kind),
                Transport = parse.GetValue(transport),
                Policy = BufferPolicy.DeliverAll,
                ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            };
            using var loggers = Logging.Create(parse.GetValue(verbose));
            var result = await ProbeAsync(options, count, TimeSpan.FromSeconds(parse.GetValue(timeout)), loggers, parse.GetValue(verbose), cancel);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    uri = result.Uri,
                    width = result.Width,
                    height = result.Height,
                    fps = Math.Round(result.Fps, 2),
                    frames = result.Frames,
                    firstFrameMs = Math.Round(result.FirstFrameMs, 1),
                    codec = result.Codec,
                }));
            }
            else
            {
                Console.WriteLine($"{result.Uri}: {result.Width}x{result.Height}{(result.Codec is null ? string.Empty : " " + result.Codec)}, " +
                                  $"{result.Fps:0.##} frames/s measured over {result.Frames} frames, first frame after {result.FirstFrameMs:0} ms");
            }

            return ExitCodes.Success;
        });

        return new Command("sources", "Camera sources.") { probe };
    }

    private sealed record ProbeResult(string Uri, int Width, int Height, double Fps, int Frames, double FirstFrameMs, string? Codec);

    private static async Task<ProbeResult> ProbeAsync(CameraOptions options, int count, TimeSpan timeout, ILoggerFactory loggers, bool verbose, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        await using var source = new CameraSource(options, verbose ? loggers.CreateLogger("Inspection.Sources") : null);
        var failed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        source.StatusChanged += (_, status) =>
        {
            // A probe reports the first failure instead of retrying as a running camera would.
            if (status.State is SourceState.Reconnecting or SourceState.Stopped)
            {
                failed.TrySetResult(status.Reason ?? status.State.ToString());
            }
        };
        source.Start();

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(timeout);
        long first = 0, last = 0;
        int width = 0, height = 0, read = 0;
        var reading = Task.Run(
            async () =>
            {
                await foreach (var frame in source.Frames.ReadAllAsync(deadline.Token))
                {
                    using (frame)
                    {
                        if (read++ == 0)
                        {
                            (first, width, height) = (frame.CaptureTimestamp, frame.Width, frame.Height);
                        }

                        last = frame.CaptureTimestamp;
                    }

                    if (read == count)
                    {
                        return;
                    }
                }
            },
            CancellationToken.None);

        var done = await Task.WhenAny(reading, failed.Task, Task.Delay(Timeout.InfiniteTimeSpan, deadline.Token)).ConfigureAwait(false);
        if (done == failed.Task && read < count)
        {
            throw new InspectionInputException(read == 0 ? failed.Task.Result : $"{source.Location.Display} stopped after {read} frames: {failed.Task.Result}");
        }

        if (read < count)
        {
            throw new InspectionInputException($"{source.Location.Display}: {read} of {count} frames within {timeout.TotalSeconds:0} s ({source.Status.Reason ?? source.State.ToString()}).");
        }

        var fps = (count - 1) / Stopwatch.GetElapsedTime(first, last).TotalSeconds;
        return new ProbeResult(source.Location.Display, width, height, fps, count, Stopwatch.GetElapsedTime(started, first).TotalMilliseconds, source.Stream?.Codec);
    }
}

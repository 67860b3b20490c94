using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Inspection.Vision;

/// <summary>
/// Reads RTSP, RTMP, SRT, HLS and anything else FFmpeg opens through a child <c>ffmpeg</c> process that writes
/// raw BGR frames to a pipe, read straight into the frame buffer (OpenCV's bundled FFmpeg has no network
/// protocols). Frames pass through untouched (<c>-fps_mode passthrough</c>): no frame is invented or dropped.
/// </summary>
internal sealed partial class FfmpegReader(CameraOptions options, SourceLocation location, ILogger logger) : IFrameReader
{
    private const int StderrLines = 40;

    private readonly Queue<string> _stderr = new();
    private readonly TaskCompletionSource<(int Width, int Height)> _outputSize = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _process;
    private Stream? _stdout;
    private Task? _stderrRead;
    private string? _codec;
    private double _fps;
    private int _frameBytes;
    private int _width;
    private int _height;
    private byte[]? _skip;

    /// <summary>The arguments given to ffmpeg, credentials included: never log them as they are.</summary>
    public static List<string> Arguments(CameraOptions options, string url, bool live)
    {
        var args = new List<string> { "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info" };
        if (options.HardwareDecoding == HardwareDecoding.Cuda)
        {
            args.AddRange(["-hwaccel", "cuda"]);
        }

        var microseconds = ((long)options.ConnectTimeout.TotalMicroseconds).ToString(CultureInfo.InvariantCulture);
        if (url.StartsWith("rtsp", StringComparison.OrdinalIgnoreCase))
        {
            args.AddRange(["-rtsp_transport", options.Transport == RtspTransport.Udp ? "udp" : "tcp", "-timeout", microseconds]);
        }
        else if (live)
        {
            args.AddRange(["-rw_timeout", microseconds]);
        }
        else
        {
            if (options.Realtime)
            {
                args.Add("-re"); // a local file read at its own pace, as a camera would send it
            }

            if (options.Loop)
            {
                args.AddRange(["-stream_loop", "-1"]);
            }
        }

        if (live)
        {
            args.AddRange(["-fflags", "nobuffer", "-flags", "low_delay"]);
        }

        args.AddRange(["-i", url, "-map", "0:v:0", "-an", "-sn", "-dn"]);
        if (options.Width > 0 && options.Height > 0)
        {
            args.AddRange(["-vf", $"scale={options.Width}:{options.Height}"]);
        }

        // Passthrough: every decoded frame once, none duplicated to fill a constant rate. The default
        // -autoscale keeps the output at the first frame's size if the stream's size changes.
        args.AddRange(["-fps_mode", "passthrough", "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1"]);
        return args;
    }

    public StreamInfo Open(CancellationToken cancel)
    {
        var live = !location.IsFinite;
        var start = new ProcessStartInfo(options.FfmpegPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in Arguments(options, location.Target, live))
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            _process = ChildProcesses.Start(start);
        }
        catch (Exception e) when (e is Win32Exception or FileNotFoundException)
        {
            throw new SourceException(
                $"Camera '{options.Id}': ffmpeg cannot be started ('{options.FfmpegPath}': {e.Message}). Install it (apt-get install ffmpeg) or set FfmpegPath.",
                retryable: false, e);
        }

        _stdout = _process.StandardOutput.BaseStream;
        _stderrRead = Task.Run(ReadStderr, CancellationToken.None);

        // ffmpeg prints the output stream, with its size, once it has opened the input and is about to write.
        var opened = Task.WhenAny(_outputSize.Task, _process.WaitForExitAsync(cancel), Task.Delay(options.ConnectTimeout + TimeSpan.FromSeconds(2), cancel))
            .GetAwaiter().GetResult();
        cancel.ThrowIfCancellationRequested();
        if (opened != _outputSize.Task)
        {
            var reason = _process.HasExited ? Reason() : $"no picture within {options.ConnectTimeout.TotalSeconds:0.#} s";
            throw new SourceException($"Camera '{options.Id}': {location.Display} cannot be opened: {reason}.", retryable: true);
        }

        (_width, _height) = _outputSize.Task.Result;
        _frameBytes = _width * _height * 3;
        return new StreamInfo(_width, _height, _fps, _codec);
    }

    public bool Read(Mat destination)
    {
        destination.Create(_height, _width, MatType.CV_8UC3);
        unsafe
        {
            return Fill(new Span<byte>((void*)destination.Data, _frameBytes));
        }
    }

    public bool Skip() => Fill(_skip ??= new byte[_frameBytes]);

    public void Abort()
    {
        if (_process is { } process)
        {
            ChildProcesses.Stop(process, TimeSpan.Zero);
        }
    }

    public void Dispose()
    {
        if (_process is { } process)
        {
            ChildProcesses.Stop(process, TimeSpan.FromSeconds(5));
            process.Dispose();
        }
    }

    private bool Fill(Span<byte> frame)
    {
        var read = _stdout!.ReadAtLeast(frame, frame.Length, throwOnEndOfStream: false);
        if (read == frame.Length)
        {
            return true;
        }

        if (_process is { HasExited: true, ExitCode: not 0 } && read == 0)
        {
            throw new SourceException($"Camera '{options.Id}': {location.Display} stopped: {Reason()}.", retryable: true);
        }

        return false;
    }

    private async Task ReadStderr()
    {
        var reader = _process!.StandardError;
        var section = string.Empty;
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_stderr)
            {
                _stderr.Enqueue(line);
                if (_stderr.Count > StderrLines)
                {
                    _stderr.Dequeue();
                }
            }

            if (line.StartsWith("Input #", StringComparison.Ordinal) || line.StartsWith("Output #", StringComparison.Ordinal))
            {
                section = line[..line.IndexOf(' ', StringComparison.Ordinal)];
            }

            var video = VideoStream().Match(line);
            if (!video.Success)
            {
                if (SizeChange().Match(line) is { Success: true } change)
                {
                    logger.LogWarning("Camera {Camera}: the stream's size changed to {Size}; frames are scaled to {Width}x{Height}.", options.Id, change.Groups["size"].Value, _width, _height);
                }

                continue;
            }

            if (section == "Input")
            {
                _codec ??= video.Groups["codec"].Value;
                if (Fps().Match(line) is { Success: true } fps)
                {
                    _fps = double.Parse(fps.Groups["fps"].Value, CultureInfo.InvariantCulture);
                }
            }
            else if (section == "Output" && Size().Match(line) is { Success: true } size)
            {
                _outputSize.TrySetResult((int.Parse(size.Groups["w"].Value, CultureInfo.InvariantCulture), int.Parse(size.Groups["h"].Value, CultureInfo.InvariantCulture)));
            }
        }
    }

    /// <summary>The most telling line of ffmpeg's stderr, with known failures said plainly.</summary>
    private string Reason()
    {
        // ffmpeg has exited: its last lines (the ones that say why) may still be in the pipe, not yet read.
        if (_process is { HasExited: true })
        {
            _stderrRead?.Wait(TimeSpan.FromSeconds(2));
        }

        string[] lines;
        lock (_stderr)
        {
            lines = _stderr.ToArray();
        }

        var text = string.Join('\n', lines);
        if (text.Contains("401 Unauthorized", StringComparison.Ordinal))
        {
            return "401 Unauthorized: the username or password is wrong";
        }

        if (text.Contains("404 Not Found", StringComparison.Ordinal))
        {
            return "404 Not Found: check the stream path";
        }

        if (text.Contains("Connection refused", StringComparison.Ordinal))
        {
            return "connection refused: nothing listens at that address and port";
        }

        var last = lines.LastOrDefault(l => !string.IsNullOrWhiteSpace(l) && !l.StartsWith(' '));
        return last is null ? $"ffmpeg exited with code {_process?.ExitCode}" : SourceLocation.Mask(last.Trim());
    }

    [GeneratedRegex(@"Stream #\d+:\d+.*?: Video: (?<codec>\w+)")]
    private static partial Regex VideoStream();

    [GeneratedRegex(@", (?<w>\d{2,5})x(?<h>\d{2,5})[ ,\[]")]
    private static partial Regex Size();

    [GeneratedRegex(@", (?<fps>\d+(\.\d+)?) fps")]
    private static partial Regex Fps();

    [GeneratedRegex(@"changed from size:\S+ .*to size:(?<size>\d+x\d+)")]
    private static partial Regex SizeChange();
}

using System.Globalization;
using OpenCvSharp;

namespace Inspection.Vision;

/// <summary>
/// Video files and USB/V4L2 devices through OpenCV's VideoCapture. Files decode every frame once, in order
/// (variable frame rates included), optionally at their own pace and in a loop.
/// </summary>
internal sealed class CaptureReader(CameraOptions options, SourceLocation location, CancellationToken cancel) : IFrameReader
{
    private readonly Pacer _pacer = new(cancel);
    private VideoCapture? _capture;
    private bool _file;
    private double _lastPositionMs = double.MinValue;

    public StreamInfo Open(CancellationToken cancel)
    {
        _file = location.Kind == SourceKind.File;
        if (_file && !File.Exists(location.Target))
        {
            throw new SourceException($"Camera '{options.Id}': file '{location.Target}' does not exist.", retryable: false);
        }

        _capture = _file
            ? new VideoCapture(location.Target, VideoCaptureAPIs.FFMPEG)
            : int.TryParse(location.Target, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index)
                ? new VideoCapture(index, VideoCaptureAPIs.V4L2)
                : new VideoCapture(location.Target, VideoCaptureAPIs.V4L2);
        if (!_capture.IsOpened())
        {
            throw _file
                ? new SourceException($"Camera '{options.Id}': '{location.Target}' is not a video OpenCV can open (corrupt or an unsupported codec).", retryable: false)
                : new SourceException($"Camera '{options.Id}': device {location.Display} cannot be opened: it is missing, busy, or this user may not read it (group 'video').", retryable: true);
        }

        _pacer.Restart();
        var fourcc = _capture.FourCC;
        return new StreamInfo(_capture.FrameWidth, _capture.FrameHeight, _capture.Fps, string.IsNullOrWhiteSpace(fourcc) ? null : fourcc.Trim('\0', ' '));
    }

    public bool Read(Mat destination) => Next(destination);

    public bool Skip() => Next(null);

    /// <summary>VideoCapture cannot be interrupted safely from another thread; a read returns on its own.</summary>
    public void Abort()
    {
    }

    public void Dispose() => _capture?.Dispose();

    private bool Next(Mat? destination)
    {
        var capture = _capture!;
        var ok = destination is null ? capture.Grab() : capture.Read(destination) && !destination.Empty();
        if (!ok && _file && options.Loop)
        {
            // Reopening is the one way to start again that every container supports (seeking fails on some).
            capture.Dispose();
            _capture = capture = new VideoCapture(location.Target, VideoCaptureAPIs.FFMPEG);
            _pacer.Restart();
            _lastPositionMs = double.MinValue;
            ok = destination is null ? capture.Grab() : capture.Read(destination) && !destination.Empty();
        }

        if (ok && _file && options.Realtime)
        {
            var position = capture.Get(VideoCaptureProperties.PosMsec);
            _lastPositionMs = Math.Max(position, _lastPositionMs);
            _pacer.WaitFor(_lastPositionMs);
        }

        return ok;
    }
}

using System.Diagnostics;
using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Vision;

/// <summary>
/// Flags frames that show a failed camera rather than the part: frozen (unchanged for a set time), black,
/// blank (no contrast) or badly defocused (little Laplacian variance). Works on a 320 px wide gray copy, so
/// the cost does not grow with the camera's resolution. One checker per camera; its buffers are reused.
/// </summary>
public sealed class FrameIntegrityChecker(IntegrityOptions options) : IDisposable
{
    private const int WorkWidth = 320;

    // A frozen encoder repeats the same picture to the bit; a still scene still has sensor noise in a few
    // hundred pixels (the shared street camera: at least 45 of 57,600 differ by more than 2 levels).
    private const double FrozenChangedFraction = 0.0001;

    private readonly Mat _resized = new();
    private readonly Mat _small = new();
    private readonly Mat _laplacian = new();
    private readonly Mat _previous = new();
    private readonly Mat _difference = new();
    private long _unchangedSince;
    private long _lastCheck;
    private FrameIntegrity _last;

    /// <summary>
    /// Checks a BGR (or gray) frame read at <paramref name="timestamp"/> (Stopwatch ticks). A camera's condition
    /// changes slowly, so at most <see cref="IntegrityOptions.ChecksPerSecond"/> frames are examined; the frames
    /// between carry the last result.
    /// </summary>
    public FrameIntegrity Check(Mat frame, long timestamp)
    {
        if (!options.Enabled)
        {
            return FrameIntegrity.Ok;
        }

        if (_lastCheck != 0 && Stopwatch.GetElapsedTime(_lastCheck, timestamp).TotalSeconds < 1 / options.ChecksPerSecond)
        {
            return _last;
        }

        _lastCheck = timestamp;
        return _last = Examine(frame, timestamp);
    }

    private FrameIntegrity Examine(Mat frame, long timestamp)
    {
        // Shrink first, then convert: the work is then the same for a 640 px and a 4K camera.
        var height = Math.Max(1, (int)Math.Round(frame.Rows * (double)WorkWidth / frame.Cols));
        Cv2.Resize(frame, _resized, new Size(WorkWidth, height), 0, 0, InterpolationFlags.Area);
        if (_resized.Channels() == 1)
        {
            _resized.CopyTo(_small);
        }
        else
        {
            Cv2.CvtColor(_resized, _small, _resized.Channels() == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY);
        }

        var result = FrameIntegrity.Ok;
        Cv2.MeanStdDev(_small, out var mean, out var deviation);
        if (mean.Val0 < options.BlackLevel)
        {
            result |= FrameIntegrity.Black;
        }
        else if (deviation.Val0 < options.BlankContrast)
        {
            result |= FrameIntegrity.Blank;
        }
        else if (options.BlurThreshold > 0)
        {
            Cv2.Laplacian(_small, _laplacian, MatType.CV_32F);
            Cv2.MeanStdDev(_laplacian, out _, out var sharpness);
            if (sharpness.Val0 * sharpness.Val0 < options.BlurThreshold)
            {
                result |= FrameIntegrity.Blurred;
            }
        }

        return result | CheckFrozen(timestamp);
    }

    public void Dispose()
    {
        foreach (var mat in new[] { _resized, _small, _laplacian, _previous, _difference })
        {
            mat.Dispose();
        }
    }

    private FrameIntegrity CheckFrozen(long timestamp)
    {
        var same = false;
        if (_previous.Size() == _small.Size())
        {
            Cv2.Absdiff(_small, _previous, _difference);
            Cv2.Threshold(_difference, _difference, options.FrozenTolerance, 255, ThresholdTypes.Binary);
            same = Cv2.CountNonZero(_difference) <= FrozenChangedFraction * _small.Rows * _small.Cols;
        }

        _small.CopyTo(_previous);
        if (!same)
        {
            _unchangedSince = timestamp;
            return FrameIntegrity.Ok;
        }

        return Stopwatch.GetElapsedTime(_unchangedSince, timestamp) >= options.FrozenAfter ? FrameIntegrity.Frozen : FrameIntegrity.Ok;
    }
}

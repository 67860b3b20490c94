using System.Globalization;
using Inspection.Core;
using Microsoft.Extensions.Hosting;
using OpenCvSharp;

namespace Inspection.Web;

/// <summary>
/// Draws and encodes the live frames off the detector's threads: scales each taken frame down to
/// <see cref="WebLiveOptions.MaxWidth"/>, draws its boxes in the verdict's colour with class and score, a verdict
/// banner along the top, and encodes a JPEG every viewer of the camera shares.
/// </summary>
public sealed class LiveEncoder(LiveFrames frames, WebOptions options) : BackgroundService
{
    private static readonly Scalar Ok = new(80, 175, 76), Ng = new(54, 67, 244), Unknown = new(7, 193, 255);
    private long _version;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var slot in frames.Pending.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                LiveFrame frame;
                lock (slot.Gate)
                {
                    frame = Encode(slot, ++_version);
                    slot.Pending = false;
                }

                slot.Publish(frame);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    internal LiveFrame Encode(CameraSlot slot, long version)
    {
        var result = slot.Result!;
        var type = slot.Channels switch { 1 => MatType.CV_8UC1, 4 => MatType.CV_8UC4, _ => MatType.CV_8UC3 };
        using var source = Mat.FromPixelData(slot.Height, slot.Width, type, slot.Pixels, slot.Width * slot.Channels);
        var scale = Math.Min(1.0, (double)options.Live.MaxWidth / slot.Width);
        using var picture = new Mat();
        var size = new Size(Math.Max(1, (int)Math.Round(slot.Width * scale)), Math.Max(1, (int)Math.Round(slot.Height * scale)));
        using (var scaled = new Mat())
        {
            Cv2.Resize(source, scaled, size, interpolation: InterpolationFlags.Area);
            switch (slot.Channels)
            {
                case 1:
                    Cv2.CvtColor(scaled, picture, ColorConversionCodes.GRAY2BGR);
                    break;
                case 4:
                    Cv2.CvtColor(scaled, picture, ColorConversionCodes.BGRA2BGR);
                    break;
                default:
                    scaled.CopyTo(picture);
                    break;
            }
        }

        var colour = result.Verdict switch { Verdict.Ok => Ok, Verdict.Ng => Ng, _ => Unknown };
        var thickness = Math.Max(1, size.Width / 400);
        foreach (var d in result.Detections)
        {
            var box = new Rect((int)(d.Box.X1 * scale), (int)(d.Box.Y1 * scale), (int)((d.Box.X2 - d.Box.X1) * scale), (int)((d.Box.Y2 - d.Box.Y1) * scale));
            Cv2.Rectangle(picture, box, colour, thickness);
            Label(picture, string.Create(CultureInfo.InvariantCulture, $"{result.ClassName(d.ClassId)} {d.Score:0.00}"), new Point(box.X, Math.Max(0, box.Y - 18)), colour);
        }

        Cv2.Rectangle(picture, new Rect(0, 0, size.Width, 4 * thickness), colour, -1);
        Label(picture, string.Create(CultureInfo.InvariantCulture, $"{ResultSummary.VerdictText(result.Verdict)}  {result.CameraId} #{result.Sequence}{(result.PartId is { } part ? "  " + part : "")}"), new Point(0, 4 * thickness), colour);
        Cv2.ImEncode(".jpg", picture, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, options.Live.JpegQuality));
        return new LiveFrame(jpeg, version, result.Sequence, result.CaptureTime, result.Verdict, slot.Width, slot.Height);
    }

    private static void Label(Mat picture, string text, Point at, Scalar colour)
    {
        var size = Cv2.GetTextSize(text, HersheyFonts.HersheySimplex, 0.5, 1, out var baseline);
        Cv2.Rectangle(picture, new Rect(at.X, at.Y, size.Width + 6, size.Height + baseline + 6), colour, -1);
        Cv2.PutText(picture, text, new Point(at.X + 3, at.Y + size.Height + 3), HersheyFonts.HersheySimplex, 0.5, Scalar.White, 1, LineTypes.AntiAlias);
    }
}

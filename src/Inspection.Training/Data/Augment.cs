using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Training.Data;

/// <summary>An image being augmented (BGR, 8-bit) and its boxes in that image's pixels, with their classes.</summary>
public sealed class Sample(Mat image, List<(int ClassId, BoundingBox Box)> boxes) : IDisposable
{
    public Mat Image { get; set; } = image;

    public List<(int ClassId, BoundingBox Box)> Boxes { get; set; } = boxes;

    /// <summary>Where the picture lies in <see cref="Image"/>: all of it, except letterbox padding.</summary>
    public Rect Picture { get; set; } = new(0, 0, image.Width, image.Height);

    public void Dispose() => Image.Dispose();
}

/// <summary>Augmentation settings, Ultralytics' defaults (cfg/default.yaml).</summary>
public sealed record AugmentOptions
{
    public double HueGain { get; init; } = 0.015;
    public double SaturationGain { get; init; } = 0.7;
    public double ValueGain { get; init; } = 0.4;
    public double Translate { get; init; } = 0.1;
    public double Scale { get; init; } = 0.5;
    public double FlipLeftRight { get; init; } = 0.5;
    public double Mosaic { get; init; } = 1.0;

    /// <summary>No augmentation: letterbox only (validation, and the last epochs' "close mosaic" when Mosaic is 0).</summary>
    public static AugmentOptions None { get; } = new() { HueGain = 0, SaturationGain = 0, ValueGain = 0, Translate = 0, Scale = 0, FlipLeftRight = 0, Mosaic = 0 };
}

/// <summary>
/// The training augmentations of Ultralytics' data/augment.py, written for OpenCV Mats: Mosaic, RandomPerspective
/// (scale and translate), RandomHSV, RandomFlip and LetterBox. Boxes follow every geometric change and are
/// clipped; boxes that shrink to slivers are dropped (box_candidates). Random draws come from the caller's
/// <see cref="Random"/>, so a seed reproduces an epoch.
/// </summary>
public static class Augment
{
    private const byte Pad = 114;

    /// <summary>Four images around a random centre on a 2x canvas (Mosaic), then cropped back to size by the affine step.</summary>
    public static Sample Mosaic(IReadOnlyList<Sample> four, int size, Random random)
    {
        var canvas = new Mat(size * 2, size * 2, MatType.CV_8UC3, Scalar.All(Pad));
        var (xc, yc) = ((int)(size * (0.5 + random.NextDouble())), (int)(size * (0.5 + random.NextDouble())));
        var boxes = new List<(int, BoundingBox)>();
        for (var i = 0; i < 4; i++)
        {
            using var resized = ResizeLongSide(four[i].Image, size, out var gain);
            var (w, h) = (resized.Width, resized.Height);
            // Where the tile goes on the canvas (a) and which part of it (b): top-left, top-right, bottom-left, bottom-right.
            var (ax1, ay1, ax2, ay2) = i switch
            {
                0 => (Math.Max(xc - w, 0), Math.Max(yc - h, 0), xc, yc),
                1 => (xc, Math.Max(yc - h, 0), Math.Min(xc + w, size * 2), yc),
                2 => (Math.Max(xc - w, 0), yc, xc, Math.Min(size * 2, yc + h)),
                _ => (xc, yc, Math.Min(xc + w, size * 2), Math.Min(size * 2, yc + h)),
            };
            var (bx1, by1) = i switch
            {
                0 => (w - (ax2 - ax1), h - (ay2 - ay1)),
                1 => (0, h - (ay2 - ay1)),
                2 => (w - (ax2 - ax1), 0),
                _ => (0, 0),
            };
            using (var target = new Mat(canvas, new Rect(ax1, ay1, ax2 - ax1, ay2 - ay1)))
            using (var source = new Mat(resized, new Rect(bx1, by1, ax2 - ax1, ay2 - ay1)))
            {
                source.CopyTo(target);
            }

            var (dx, dy) = (ax1 - bx1, ay1 - by1);
            boxes.AddRange(four[i].Boxes.Select(b => (b.ClassId, new BoundingBox((float)((b.Box.X1 * gain) + dx), (float)((b.Box.Y1 * gain) + dy), (float)((b.Box.X2 * gain) + dx), (float)((b.Box.Y2 * gain) + dy)))));
        }

        var clipped = boxes.Select(b => (b.Item1, b.Item2.ClipTo(size * 2, size * 2))).Where(b => b.Item2.Width > 0 && b.Item2.Height > 0).ToList();
        return new Sample(canvas, clipped);
    }

    /// <summary>
    /// Random scale and translation about the centre (RandomPerspective with degrees, shear and perspective 0),
    /// into a size x size output: the input's centre lands near the output's, so a mosaic's 2x canvas is cropped.
    /// </summary>
    public static Sample RandomAffine(Sample sample, int size, AugmentOptions options, Random random)
    {
        var (width, height) = (size, size);
        var scale = 1 + ((random.NextDouble() * 2) - 1) * options.Scale;
        var tx = (0.5 + ((random.NextDouble() * 2) - 1) * options.Translate) * width;
        var ty = (0.5 + ((random.NextDouble() * 2) - 1) * options.Translate) * height;
        var (cx, cy) = (sample.Image.Width / 2.0, sample.Image.Height / 2.0);

        // M = T * S * C: move the centre to the origin, scale, move to the translated point.
        using var matrix = new Mat(2, 3, MatType.CV_64FC1);
        matrix.Set(0, 0, scale);
        matrix.Set(0, 1, 0.0);
        matrix.Set(0, 2, tx - (scale * cx));
        matrix.Set(1, 0, 0.0);
        matrix.Set(1, 1, scale);
        matrix.Set(1, 2, ty - (scale * cy));
        var output = new Mat();
        Cv2.WarpAffine(sample.Image, output, matrix, new Size(width, height), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(Pad));

        var boxes = new List<(int, BoundingBox)>();
        foreach (var (classId, box) in sample.Boxes)
        {
            var moved = new BoundingBox(
                (float)((box.X1 * scale) + tx - (scale * cx)), (float)((box.Y1 * scale) + ty - (scale * cy)),
                (float)((box.X2 * scale) + tx - (scale * cx)), (float)((box.Y2 * scale) + ty - (scale * cy)));
            var clipped = moved.ClipTo(width, height);
            if (IsCandidate(box, clipped, scale))
            {
                boxes.Add((classId, clipped));
            }
        }

        sample.Dispose();
        return new Sample(output, boxes);
    }

    /// <summary>Random gains on hue, saturation and value through lookup tables (RandomHSV), in place.</summary>
    public static void RandomHsv(Mat image, AugmentOptions options, Random random)
    {
        if (options.HueGain == 0 && options.SaturationGain == 0 && options.ValueGain == 0)
        {
            return;
        }

        var gains = new[] { options.HueGain, options.SaturationGain, options.ValueGain }.Select(g => (((random.NextDouble() * 2) - 1) * g) + 1).ToArray();
        using var hsv = image.CvtColor(ColorConversionCodes.BGR2HSV);
        var channels = hsv.Split();
        try
        {
            var tables = new[]
            {
                Enumerable.Range(0, 256).Select(x => (byte)((x * gains[0]) % 180)).ToArray(),
                Enumerable.Range(0, 256).Select(x => (byte)Math.Clamp(x * gains[1], 0, 255)).ToArray(),
                Enumerable.Range(0, 256).Select(x => (byte)Math.Clamp(x * gains[2], 0, 255)).ToArray(),
            };
            for (var c = 0; c < 3; c++)
            {
                using var table = Mat.FromPixelData(1, 256, MatType.CV_8UC1, tables[c]);
                Cv2.LUT(channels[c], table, channels[c]);
            }

            using var merged = new Mat();
            Cv2.Merge(channels, merged);
            Cv2.CvtColor(merged, image, ColorConversionCodes.HSV2BGR);
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>Mirrors the image and its boxes left to right with the given probability (RandomFlip), in place.</summary>
    public static void RandomFlip(Sample sample, double probability, Random random)
    {
        if (random.NextDouble() >= probability)
        {
            return;
        }

        Cv2.Flip(sample.Image, sample.Image, FlipMode.Y);
        var width = sample.Image.Width;
        sample.Boxes = sample.Boxes.Select(b => (b.ClassId, new BoundingBox(width - b.Box.X2, b.Box.Y1, width - b.Box.X1, b.Box.Y2))).ToList();
        sample.Picture = sample.Picture with { X = width - sample.Picture.Right };
    }

    /// <summary>Letterbox to size x size (keep aspect, centre, pad 114), boxes moved with the image.</summary>
    public static Sample Letterbox(Sample sample, int size)
    {
        var gain = Math.Min((double)size / sample.Image.Height, (double)size / sample.Image.Width);
        var (w, h) = ((int)Math.Round(sample.Image.Width * gain), (int)Math.Round(sample.Image.Height * gain));
        var (left, top) = ((int)Math.Round(((size - w) / 2.0) - 0.1), (int)Math.Round(((size - h) / 2.0) - 0.1));
        var output = new Mat(size, size, MatType.CV_8UC3, Scalar.All(Pad));
        using (var resized = sample.Image.Resize(new Size(w, h), 0, 0, InterpolationFlags.Linear))
        using (var target = new Mat(output, new Rect(left, top, w, h)))
        {
            resized.CopyTo(target);
        }

        var boxes = sample.Boxes.Select(b => (b.ClassId, new BoundingBox(
            (float)((b.Box.X1 * gain) + left), (float)((b.Box.Y1 * gain) + top), (float)((b.Box.X2 * gain) + left), (float)((b.Box.Y2 * gain) + top)))).ToList();
        sample.Dispose();
        return new Sample(output, boxes) { Picture = new Rect(left, top, w, h) };
    }

    /// <summary>A box survives augmentation if it stays over 2 px wide and high, keeps 10 % of its scaled area, and is no sliver (box_candidates).</summary>
    internal static bool IsCandidate(BoundingBox before, BoundingBox after, double scale)
    {
        var (w1, h1) = (before.Width * scale, before.Height * scale);
        var (w2, h2) = (after.Width, after.Height);
        var aspect = Math.Max(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16));
        return w2 > 2 && h2 > 2 && w2 * h2 / ((w1 * h1) + 1e-16) > 0.1 && aspect < 100;
    }

    private static Mat ResizeLongSide(Mat image, int size, out double gain)
    {
        gain = (double)size / Math.Max(image.Width, image.Height);
        return gain == 1 ? image.Clone() : image.Resize(new Size((int)Math.Round(image.Width * gain), (int)Math.Round(image.Height * gain)), 0, 0, InterpolationFlags.Linear);
    }
}

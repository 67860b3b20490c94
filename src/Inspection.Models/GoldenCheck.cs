using Inspection.Core;
using Inspection.Inference;
using OpenCvSharp;

namespace Inspection.Models;

/// <summary>Runs a detector over a golden set, and records one: the same thresholds both ways.</summary>
public static class GoldenCheck
{
    /// <summary>The thresholds golden detections are recorded and checked at.</summary>
    public static readonly DetectionThresholds Thresholds = new(0.25f, 0.45f, 300);

    /// <summary>What differs from the golden set, one line per image; empty when the detector passes.</summary>
    public static IReadOnlyList<string> Run(IDetector detector, GoldenSet golden)
    {
        var failures = new List<string>();
        foreach (var image in golden.Images)
        {
            var found = Detect(detector, golden.PathOf(image));
            if (GoldenSet.Compare(image, found) is { } failure)
            {
                failures.Add(failure);
            }
        }

        return failures;
    }

    /// <summary>The detections of <paramref name="detector"/> on an image file, as a golden set records them.</summary>
    public static IReadOnlyList<GoldenDetection> Detect(IDetector detector, string imagePath)
    {
        using var mat = Cv2.ImRead(imagePath, ImreadModes.Color);
        if (mat.Empty())
        {
            throw new InspectionInputException($"Golden image '{imagePath}' cannot be read as an image.");
        }

        var results = new[] { new List<Detection>() };
        detector.Detect([MatImage.View(mat)], results, Thresholds);
        return [.. results[0].Select(d => new GoldenDetection(detector.Model.ClassName(d.ClassId), d.Score, [d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2]))];
    }
}

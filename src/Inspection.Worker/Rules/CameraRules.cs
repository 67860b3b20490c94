using System.Globalization;
using Inspection.Core;

namespace Inspection.Worker.Rules;

/// <summary>What the rules made of one frame's detections.</summary>
public readonly record struct RuleOutcome(Verdict Verdict, string? Reason, bool Uncertain);

/// <summary>
/// One camera's rules, resolved against the model's classes: a confidence threshold and a defect flag per class
/// id, regions of interest, ignore masks and a minimum box size. Immutable: a change builds new rules.
/// </summary>
public sealed class CameraRules
{
    public required IReadOnlyList<string> ClassNames { get; init; }

    /// <summary>Confidence a detection needs to count, by class id.</summary>
    public required float[] Confidence { get; init; }

    /// <summary>Whether a class makes a frame NG, by class id.</summary>
    public required bool[] Defect { get; init; }

    public IReadOnlyList<Polygon> Regions { get; init; } = [];

    public IReadOnlyList<Polygon> IgnoreMasks { get; init; } = [];

    public double MinBoxWidth { get; init; }

    public double MinBoxHeight { get; init; }

    public float UncertainMargin { get; init; }

    /// <summary>The lowest score the detector must return for these rules: the lowest threshold less the uncertainty margin.</summary>
    public float DetectorConfidence => Math.Max(0.001f, Confidence.DefaultIfEmpty(0.25f).Min() - UncertainMargin);

    /// <summary>
    /// Judges a frame: UNKNOWN when its picture failed the integrity checks; else NG when a detection of a defect
    /// class passes its threshold inside the regions, outside the masks and above the minimum size; else OK.
    /// <paramref name="kept"/> receives the detections that count.
    /// </summary>
    public RuleOutcome Evaluate(FrameIntegrity integrity, int width, int height, List<Detection> detections, List<Detection> kept)
    {
        kept.Clear();
        var uncertain = false;
        string? reason = null;
        foreach (var detection in detections)
        {
            var classId = detection.ClassId;
            if ((uint)classId >= (uint)Confidence.Length || !Counts(detection.Box, width, height))
            {
                continue;
            }

            var threshold = Confidence[classId];
            uncertain |= Math.Abs(detection.Score - threshold) <= UncertainMargin;
            if (detection.Score < threshold)
            {
                continue;
            }

            kept.Add(detection);
            if (reason is null && Defect[classId])
            {
                reason = string.Create(CultureInfo.InvariantCulture, $"{ClassNames[classId]} {detection.Score:0.00} >= {threshold:0.00}");
            }
        }

        if (integrity != FrameIntegrity.Ok)
        {
            return new RuleOutcome(Verdict.Unknown, "picture failed its integrity checks: " + integrity.ToString().ToLowerInvariant(), uncertain);
        }

        return reason is null ? new RuleOutcome(Verdict.Ok, null, uncertain) : new RuleOutcome(Verdict.Ng, reason, uncertain);
    }

    private bool Counts(BoundingBox box, int width, int height)
    {
        if (box.Width < MinBoxWidth || box.Height < MinBoxHeight)
        {
            return false;
        }

        var x = (box.X1 + box.X2) / 2 / Math.Max(width, 1);
        var y = (box.Y1 + box.Y2) / 2 / Math.Max(height, 1);
        return (Regions.Count == 0 || AnyContains(Regions, x, y)) && !AnyContains(IgnoreMasks, x, y);
    }

    private static bool AnyContains(IReadOnlyList<Polygon> polygons, double x, double y)
    {
        for (var i = 0; i < polygons.Count; i++)
        {
            if (polygons[i].Contains(x, y))
            {
                return true;
            }
        }

        return false;
    }
}

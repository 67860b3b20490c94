using Inspection.Core;

namespace Inspection.Datasets;

/// <summary>One labelled object: its class and its box in normalised coordinates (0-1, corners).</summary>
public readonly record struct LabeledBox(int ClassId, BoundingBox Box)
{
    /// <summary>A box from a YOLO label's centre and size (fractions of the image).</summary>
    public static LabeledBox FromCenter(int classId, float cx, float cy, float width, float height) =>
        new(classId, new BoundingBox(cx - (width / 2), cy - (height / 2), cx + (width / 2), cy + (height / 2)));

    /// <summary>A box in pixels of an image of the given size (a detection's), clipped to the image and made fractions of it.</summary>
    public static LabeledBox FromPixels(int classId, BoundingBox pixels, float imageWidth, float imageHeight) => new(classId, new BoundingBox(
        Math.Clamp(pixels.X1, 0, imageWidth) / imageWidth, Math.Clamp(pixels.Y1, 0, imageHeight) / imageHeight,
        Math.Clamp(pixels.X2, 0, imageWidth) / imageWidth, Math.Clamp(pixels.Y2, 0, imageHeight) / imageHeight));
}

/// <summary>An image and its labels; no boxes means a background image (nothing to find).</summary>
public sealed record DatasetImage(string ImagePath, IReadOnlyList<LabeledBox> Boxes, string? LabelPath);

public sealed record DatasetSplit(string Name, IReadOnlyList<DatasetImage> Images);

public enum ProblemSeverity
{
    /// <summary>Worth knowing, changes nothing (a label file without a trailing newline, a gray JPEG).</summary>
    Note,

    /// <summary>Something was skipped or repaired (a junk file, a box out of bounds, a missing label).</summary>
    Warning,

    /// <summary>The dataset cannot be used as it is (no images, no classes).</summary>
    Error,
}

/// <summary>
/// Where loading is: the part being read (a split, or a VOC dataset's annotations), how many of its files are read,
/// and the last one.
/// </summary>
public readonly record struct DatasetLoadProgress(string Part, int Done, int Total, string File);

/// <summary>A quirk found while loading, naming the file it is in and what was done about it.</summary>
public sealed record DatasetProblem(ProblemSeverity Severity, string Kind, string File, string Message);

/// <summary>A loaded detection dataset: class names, splits, and everything odd found on the way.</summary>
public sealed class Dataset
{
    public required string Source { get; init; }

    public required string Format { get; init; }

    public required IReadOnlyList<string> Names { get; init; }

    public required IReadOnlyDictionary<string, DatasetSplit> Splits { get; init; }

    public required IReadOnlyList<DatasetProblem> Problems { get; init; }

    /// <summary>True when nothing stops training: there are classes and training images.</summary>
    public bool Usable => Names.Count > 0 && Splits.TryGetValue("train", out var train) && train.Images.Count > 0 &&
                          Problems.All(p => p.Severity != ProblemSeverity.Error);
}

using System.Globalization;
using System.Text;
using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Datasets;

/// <summary>
/// Reads YOLO label files (class cx cy w h, normalised; polygons become their bounding box) for images, as
/// Ultralytics finds them (images/ swapped for labels/) or beside the image. Junk and bad lines are reported
/// and skipped; boxes that stick out are clipped; duplicates are dropped.
/// </summary>
internal sealed class LabelReader(int classCount, List<DatasetProblem> problems)
{
    private const float Tolerance = 0.01f; // rounding in exporters puts boxes a hair outside the image

    private readonly HashSet<string> _labelFolders = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public List<DatasetImage> ReadAll(IEnumerable<string> images, bool verifyImages) =>
        images.Select(image => Read(image, verifyImages)).OfType<DatasetImage>().ToList();

    /// <summary>Reports files in the label folders that belong to no image: junk (macOS '._' files) or orphans.</summary>
    public void ReportOrphans()
    {
        foreach (var folder in _labelFolders)
        {
            foreach (var file in Directory.EnumerateFiles(folder, "*.txt").Where(f => !_used.Contains(f)).Order(StringComparer.Ordinal))
            {
                if (Path.GetFileName(file).StartsWith("._", StringComparison.Ordinal))
                {
                    problems.Add(new(ProblemSeverity.Warning, "junk-file", file, "a macOS metadata file ('._'), not a label; ignored"));
                }
                else if (!Path.GetFileName(file).Equals("classes.txt", StringComparison.OrdinalIgnoreCase))
                {
                    problems.Add(new(ProblemSeverity.Note, "orphan-label", file, "a label file with no image of the same name; ignored"));
                }
            }
        }
    }

    private DatasetImage? Read(string image, bool verifyImages)
    {
        if (verifyImages && !VerifyImage(image))
        {
            return null;
        }

        var labelPath = LabelPath(image);
        if (labelPath is null)
        {
            problems.Add(new(ProblemSeverity.Note, "no-label", image, "no label file: used as a background image (nothing to find)"));
            return new DatasetImage(image, [], null);
        }

        _used.Add(labelPath);
        var bytes = File.ReadAllBytes(labelPath);
        string text;
        try
        {
            text = bytes.Contains((byte)0) ? throw new DecoderFallbackException() : new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            problems.Add(new(ProblemSeverity.Warning, "junk-label", labelPath, "binary, not a YOLO label file; its image is skipped (its labels are unknown)"));
            return null;
        }

        if (text.Length == 0 || text.All(char.IsWhiteSpace))
        {
            problems.Add(new(ProblemSeverity.Note, "empty-label", labelPath, "empty: a background image (nothing to find)"));
            return new DatasetImage(image, [], labelPath);
        }

        if (!text.EndsWith('\n'))
        {
            problems.Add(new(ProblemSeverity.Note, "no-final-newline", labelPath, "no newline after the last line (harmless)"));
        }

        var boxes = new List<LabeledBox>();
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Trim().Length > 0 && ParseLine(line, labelPath, lineNumber) is { } box)
            {
                if (boxes.Contains(box))
                {
                    problems.Add(new(ProblemSeverity.Warning, "duplicate-box", labelPath, $"line {lineNumber} repeats an earlier box; dropped"));
                }
                else
                {
                    boxes.Add(box);
                }
            }
        }

        return new DatasetImage(image, boxes, labelPath);
    }

    private LabeledBox? ParseLine(string line, string labelPath, int lineNumber)
    {
        var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var numbers = new float[fields.Length];
        var parsed = fields.Length >= 5 && fields.Select((f, i) => float.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[i])).All(ok => ok);
        if (!parsed || (fields.Length > 5 && fields.Length % 2 == 0))
        {
            problems.Add(new(ProblemSeverity.Warning, "bad-line", labelPath, $"line {lineNumber} is not 'class cx cy w h' (nor a polygon): \"{Shorten(line)}\"; skipped"));
            return null;
        }

        var classId = (int)numbers[0];
        if (classId != numbers[0] || classId < 0 || classId >= classCount)
        {
            problems.Add(new(ProblemSeverity.Warning, "bad-class", labelPath, $"line {lineNumber} has class {fields[0]}, outside 0..{classCount - 1}; skipped"));
            return null;
        }

        BoundingBox box;
        if (fields.Length == 5)
        {
            box = LabeledBox.FromCenter(classId, numbers[1], numbers[2], numbers[3], numbers[4]).Box;
        }
        else
        {
            var xs = numbers.Skip(1).Where((_, i) => i % 2 == 0).ToArray();
            var ys = numbers.Skip(1).Where((_, i) => i % 2 == 1).ToArray();
            box = new BoundingBox(xs.Min(), ys.Min(), xs.Max(), ys.Max());
        }

        if (box.X1 < -Tolerance || box.Y1 < -Tolerance || box.X2 > 1 + Tolerance || box.Y2 > 1 + Tolerance)
        {
            problems.Add(new(ProblemSeverity.Warning, "box-outside", labelPath, $"line {lineNumber} reaches outside the image; clipped"));
        }

        box = new BoundingBox(Math.Clamp(box.X1, 0, 1), Math.Clamp(box.Y1, 0, 1), Math.Clamp(box.X2, 0, 1), Math.Clamp(box.Y2, 0, 1));
        if (box.Width <= 0 || box.Height <= 0)
        {
            problems.Add(new(ProblemSeverity.Warning, "empty-box", labelPath, $"line {lineNumber} has no area; skipped"));
            return null;
        }

        return new LabeledBox(classId, box);
    }

    private string? LabelPath(string image)
    {
        var beside = Path.Combine(Path.GetDirectoryName(image)!, Path.GetFileNameWithoutExtension(image) + ".txt");
        var swapped = YoloDatasetWriter.LabelPathOf(image);
        var labels = Path.GetDirectoryName(swapped)!;
        if (swapped != beside && Directory.Exists(labels))
        {
            _labelFolders.Add(labels);
            if (File.Exists(swapped))
            {
                return swapped;
            }
        }

        return File.Exists(beside) ? beside : null;
    }

    private bool VerifyImage(string image)
    {
        using var mat = Cv2.ImRead(image, ImreadModes.Unchanged);
        if (mat.Empty())
        {
            problems.Add(new(ProblemSeverity.Warning, "bad-image", image, "not an image OpenCV can read (corrupt or another format); skipped"));
            return false;
        }

        if (mat.Channels() == 1)
        {
            problems.Add(new(ProblemSeverity.Note, "gray-image", image, "stored as gray (1 channel); read as 3 identical channels"));
        }

        return true;
    }

    private static string Shorten(string line) => line.Length <= 60 ? line.Trim() : line[..57].Trim() + "...";
}

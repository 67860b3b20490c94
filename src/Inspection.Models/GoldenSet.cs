using System.Globalization;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Models;

/// <summary>One golden image and the detections a sound model gives on it.</summary>
public sealed record GoldenImage(string Image, IReadOnlyList<GoldenDetection> Expected);

public sealed record GoldenDetection(string Class, float Score, float[] Box);

/// <summary>
/// A few images with the detections a model must reproduce (golden/expected.json beside them). A model that
/// loads but gives other detections (a wrong file, broken preprocessing, a provider computing differently)
/// fails it; the worker runs it before a swap and as a heartbeat.
/// </summary>
public sealed class GoldenSet
{
    public const string ExpectedFile = "expected.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private GoldenSet(string folder, IReadOnlyList<GoldenImage> images) => (Folder, Images) = (folder, images);

    public string Folder { get; }

    public IReadOnlyList<GoldenImage> Images { get; }

    /// <summary>How far a score may move and how much a box must still overlap to count as the same detection.</summary>
    public static (float Score, float IoU) Tolerance => (0.05f, 0.85f);

    public static GoldenSet Load(string folder)
    {
        var file = ContainedPath.Resolve(folder, ExpectedFile, "A golden set");
        if (!File.Exists(file))
        {
            throw new InspectionInputException($"The golden set in '{folder}' has no {ExpectedFile}.");
        }

        List<GoldenImage> images;
        try
        {
            images = JsonSerializer.Deserialize<List<GoldenImage>>(File.ReadAllText(file), Json)
                ?? throw new InspectionInputException($"'{file}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"'{file}' is not a golden set ({e.Message}).");
        }
        foreach (var image in images)
        {
            if (!File.Exists(ContainedPath.Resolve(folder, image.Image, $"{file} names a golden image")))
            {
                throw new InspectionInputException($"The golden set names '{image.Image}', which is not in '{folder}'.");
            }
        }

        return new GoldenSet(folder, images);
    }

    /// <summary>
    /// Writes a golden set: copies the images and records the detections given for each. Images from different
    /// folders may share a file name (cam1/part.jpg, cam2/part.jpg): the later ones get a number (part-2.jpg), so
    /// each keeps its own picture and expectations.
    /// </summary>
    public static GoldenSet Create(string folder, IReadOnlyList<(string ImagePath, IReadOnlyList<GoldenDetection> Detections)> items)
    {
        Directory.CreateDirectory(folder);
        var images = new List<GoldenImage>();
        var taken = new HashSet<string>([ExpectedFile], StringComparer.OrdinalIgnoreCase); // a case-insensitive volume holds one of PART.jpg and part.jpg
        foreach (var (path, detections) in items)
        {
            var name = Path.GetFileName(path);
            for (var n = 2; !taken.Add(name); n++)
            {
                name = $"{Path.GetFileNameWithoutExtension(path)}-{n}{Path.GetExtension(path)}";
            }

            File.Copy(path, Path.Combine(folder, name), overwrite: false);
            images.Add(new GoldenImage(name, detections));
        }

        File.WriteAllText(Path.Combine(folder, ExpectedFile), JsonSerializer.Serialize(images, Json));
        return new GoldenSet(folder, images);
    }

    public string PathOf(GoldenImage image) => Path.Combine(Folder, image.Image);

    /// <summary>Null when <paramref name="actual"/> matches what <paramref name="image"/> expects, else what differs.</summary>
    public static string? Compare(GoldenImage image, IReadOnlyList<GoldenDetection> actual)
    {
        var (scoreTolerance, iouTolerance) = Tolerance;
        var unmatched = actual.ToList();
        foreach (var expected in image.Expected)
        {
            var match = unmatched.FirstOrDefault(a => a.Class == expected.Class && Math.Abs(a.Score - expected.Score) <= scoreTolerance && IoU(a.Box, expected.Box) >= iouTolerance);
            if (match is null)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{image.Image}: expected {expected.Class} {expected.Score:0.00} at [{string.Join(", ", expected.Box.Select(v => v.ToString("0", CultureInfo.InvariantCulture)))}], found {Describe(actual)}");
            }

            unmatched.Remove(match);
        }

        var extra = unmatched.Where(a => a.Score > 0.3f).ToList();
        return extra.Count == 0 ? null : $"{image.Image}: unexpected {Describe(extra)}";
    }

    private static string Describe(IReadOnlyList<GoldenDetection> detections) => detections.Count == 0 ? "nothing"
        : string.Join("; ", detections.Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Class} {d.Score:0.00} at [{string.Join(", ", d.Box.Select(v => v.ToString("0", CultureInfo.InvariantCulture)))}]")));

    private static float IoU(float[] a, float[] b) => new BoundingBox(a[0], a[1], a[2], a[3]).IoU(new BoundingBox(b[0], b[1], b[2], b[3]));
}

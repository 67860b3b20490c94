using System.Globalization;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Datasets;

/// <summary>An evidence item waiting for a person: its name and what the worker recorded.</summary>
public sealed record PendingItem(string Name, string Camera, string Verdict, string? PartId, DateTimeOffset CaptureTime, string Summary);

/// <summary>
/// Review of the evidence the worker kept (images/, labels/, meta/): accepted items move to reviewed/, rejected
/// ones to rejected/, and a relabelled item gets the new labels and counts as reviewed. reviewed/ is a dataset of
/// its own (<see cref="YoloDatasetWriter"/>'s layout, with the evidence's class names), which retraining always
/// uses; it can also take unreviewed items with the model's confident detections as labels. Item names come from
/// the command line, so each is checked to name a file in the folder.
/// </summary>
public sealed class EvidenceReview(string folder)
{
    private static readonly (string Folder, string Extension)[] Parts = [("images", ".jpg"), ("labels", ".txt"), ("meta", ".json")];

    public string Folder { get; } = Path.GetFullPath(folder);

    public IReadOnlyList<PendingItem> Pending()
    {
        var meta = Path.Combine(Folder, "meta");
        if (!Directory.Exists(meta))
        {
            throw new InspectionInputException($"'{Folder}' is not an evidence folder (it has no meta/); give the worker's Evidence:Directory.");
        }

        return [.. Directory.EnumerateFiles(meta, "*.json").Order(StringComparer.Ordinal).Select(Read)];
    }

    public void Accept(string name) => Move(name, "reviewed");

    public void Reject(string name) => Move(name, "rejected");

    /// <summary>Replaces the item's labels with YOLO lines ("class cx cy w h", fractions) and accepts it.</summary>
    public void Relabel(string name, IReadOnlyList<string> lines)
    {
        var classes = ClassNames()?.Count ?? int.MaxValue;
        var boxes = new List<LabeledBox>();
        foreach (var line in lines)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var numbers = new float[4];
            if (parts.Length != 5 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var classId) || classId < 0 ||
                parts.Skip(1).Select((p, i) => float.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[i]) && numbers[i] is >= 0 and <= 1).Contains(false))
            {
                throw new InspectionInputException($"label '{line}' is not 'class cx cy w h' with a class number and four fractions 0..1.");
            }

            if (classId >= classes)
            {
                throw new InspectionInputException($"label '{line}' names class {classId}; {Path.Combine(Folder, YoloDatasetWriter.DataYamlName)} has classes 0..{classes - 1}.");
            }

            boxes.Add(LabeledBox.FromCenter(classId, numbers[0], numbers[1], numbers[2], numbers[3]));
        }

        PathOf(name, "meta", ".json", mustExist: true);
        YoloDatasetWriter.WriteLabels(PathOf(name, "images", ".jpg", mustExist: false), boxes);
        Accept(name);
    }

    /// <summary>The reviewed items (accepted or relabelled) as the loader reads them: bad label lines are skipped, boxes clipped.</summary>
    public IReadOnlyList<DatasetImage> Reviewed()
    {
        var reviewed = Path.Combine(Folder, "reviewed");
        return Directory.Exists(Path.Combine(reviewed, "images"))
            ? DatasetLoader.Load(reviewed).Splits.GetValueOrDefault("train")?.Images ?? []
            : [];
    }

    /// <summary>
    /// Items not reviewed yet, labelled with the model's detections (from meta/, old files with unrounded boxes
    /// too) that scored at least <paramref name="threshold"/> and whose class is one of <paramref name="classes"/>.
    /// </summary>
    public IEnumerable<DatasetImage> PseudoLabelled(IReadOnlyList<string> classes, double threshold)
    {
        var meta = Path.Combine(Folder, "meta");
        if (!Directory.Exists(meta))
        {
            yield break;
        }

        var classIds = classes.Select((name, id) => (name, id)).ToDictionary(c => c.name, c => c.id, StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(meta, "*.json").Order(StringComparer.Ordinal))
        {
            var image = Path.Combine(Folder, "images", Path.GetFileNameWithoutExtension(file) + ".jpg");
            if (!File.Exists(image))
            {
                continue;
            }

            using var json = JsonDocument.Parse(File.ReadAllText(file));
            using var picture = OpenCvSharp.Cv2.ImRead(image, OpenCvSharp.ImreadModes.Unchanged);
            var (width, height) = (Math.Max(picture.Width, 1), Math.Max(picture.Height, 1));
            var boxes = new List<LabeledBox>();
            foreach (var d in json.RootElement.GetProperty("detections").EnumerateArray())
            {
                if (classIds.TryGetValue(d.GetProperty("class").GetString()!, out var classId) && d.GetProperty("score").GetDouble() >= threshold)
                {
                    var box = d.GetProperty("box").EnumerateArray().Select(v => v.GetSingle()).ToArray();
                    boxes.Add(LabeledBox.FromPixels(classId, new BoundingBox(box[0], box[1], box[2], box[3]), width, height));
                }
            }

            yield return new DatasetImage(image, boxes, null);
        }
    }

    /// <summary>The evidence's class names (its data.yaml, written once the worker had a model); null before that.</summary>
    private IReadOnlyList<string>? ClassNames()
    {
        var yaml = Path.Combine(Folder, YoloDatasetWriter.DataYamlName);
        return File.Exists(yaml) ? DatasetLoader.ClassNames(yaml) : null;
    }

    private void Move(string name, string destination)
    {
        PathOf(name, "meta", ".json", mustExist: true);
        var target = new YoloDatasetWriter(Path.Combine(Folder, destination));
        target.CreateFolders();
        Directory.CreateDirectory(Path.Combine(target.Root, "meta"));
        if (destination == "reviewed" && !File.Exists(target.DataYamlPath) && ClassNames() is { } names)
        {
            target.WriteDataYaml(names, "images", "images", "Evidence a person accepted or relabelled: 'inspection retrain' trains on it.");
        }

        foreach (var (part, extension) in Parts)
        {
            var from = PathOf(name, part, extension, mustExist: false);
            if (File.Exists(from))
            {
                File.Move(from, Path.Combine(target.Root, part, Path.GetFileName(from)), overwrite: true);
            }
        }
    }

    private string PathOf(string name, string part, string extension, bool mustExist)
    {
        if (name.Length == 0 || name.IndexOfAny([.. Path.GetInvalidFileNameChars(), '/', '\\']) >= 0 || name.StartsWith('.'))
        {
            throw new InspectionInputException($"'{name}' is not an evidence item name (a file name without folders, as 'dataset review' lists them).");
        }

        var path = Path.Combine(Folder, part, name + extension);
        if (mustExist && !File.Exists(path))
        {
            throw new InspectionInputException($"no pending evidence item '{name}' in {Folder} (it may be reviewed already).");
        }

        return path;
    }

    private static PendingItem Read(string metaFile)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(metaFile));
        var root = json.RootElement;
        var detections = root.GetProperty("detections").EnumerateArray()
            .Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.GetProperty("class").GetString()} {d.GetProperty("score").GetDouble():0.00}"));
        return new PendingItem(
            Path.GetFileNameWithoutExtension(metaFile),
            root.GetProperty("camera").GetString()!,
            root.GetProperty("verdict").GetString()!,
            root.TryGetProperty("partId", out var part) && part.ValueKind == JsonValueKind.String ? part.GetString() : null,
            root.GetProperty("captureTime").GetDateTimeOffset(),
            string.Join(", ", detections));
    }
}

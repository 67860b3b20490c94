using System.Globalization;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Retraining;

/// <summary>An evidence item waiting for a person: its name and what the worker recorded.</summary>
public sealed record PendingItem(string Name, string Camera, string Verdict, string? PartId, DateTimeOffset CaptureTime, string Summary);

/// <summary>
/// Review of the evidence the worker kept (images/, labels/, meta/): accepted items move to reviewed/, rejected
/// ones to rejected/, and a relabelled item gets the new labels and counts as reviewed. Retraining always uses
/// reviewed items. Item names come from the command line, so each is checked to name a file in the folder.
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
        foreach (var line in lines)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 5 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var classId) || classId < 0 ||
                parts.Skip(1).Any(p => !double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v is < 0 or > 1))
            {
                throw new InspectionInputException($"label '{line}' is not 'class cx cy w h' with a class number and four fractions 0..1.");
            }
        }

        File.WriteAllText(PathOf(name, "labels", ".txt", mustExist: true), string.Concat(lines.Select(l => l.Trim() + "\n")));
        Accept(name);
    }

    private void Move(string name, string destination)
    {
        foreach (var (part, extension) in Parts)
        {
            var from = PathOf(name, part, extension, mustExist: part == "meta");
            if (!File.Exists(from))
            {
                continue;
            }

            var folder = Directory.CreateDirectory(Path.Combine(Folder, destination, part)).FullName;
            File.Move(from, Path.Combine(folder, Path.GetFileName(from)), overwrite: true);
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

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inspection.Core;
using Inspection.Datasets;

namespace Inspection.Web;

/// <summary>An evidence item as the gallery shows it.</summary>
public sealed record EvidenceSummary(
    string Id, string Camera, DateTimeOffset CaptureTime, string Verdict, string? Kind, string? PartId, JsonNode? Model, JsonNode? Detections, string ImageUrl, string Status);

/// <summary>A label line of an item, with its class name.</summary>
public sealed record EvidenceLabel(int ClassId, string Class, double Cx, double Cy, double W, double H);

/// <summary>
/// The evidence folder the worker keeps (images/, labels/, meta/, and reviewed/ and rejected/ with the same
/// parts), read for the gallery. An id comes from a URL, so before any file is touched it must look like an item
/// name, be a bare file name, resolve inside the folder and not be a symbolic link: anything else is "no such
/// item", and nothing outside the folder is ever read.
/// </summary>
public sealed partial class EvidenceFiles(WebHostContext context)
{
    public static readonly string[] Statuses = ["pending", "reviewed", "rejected"];

    public bool Enabled { get; } = context.EvidenceEnabled;

    public string Root { get; } = Path.GetFullPath(context.EvidenceRoot);

    /// <summary>The item's picture, or null when there is no such item (or the id is not one).</summary>
    public string? ImagePath(string id) =>
        IsId(id) ? Statuses.Select(s => Inside(s, "images", id + ".jpg")).FirstOrDefault(p => p is not null && File.Exists(p)) : null;

    /// <summary>pending, reviewed or rejected; null when there is no such item.</summary>
    public string? Status(string id) =>
        IsId(id) ? Statuses.FirstOrDefault(s => Inside(s, "meta", id + ".json") is { } meta && File.Exists(meta)) : null;

    /// <summary>Newest first: up to <paramref name="limit"/> items of a status whose id sorts before <paramref name="before"/>.</summary>
    public IReadOnlyList<EvidenceSummary> Page(string status, string? camera, string? verdict, string? kind, string? before, int limit)
    {
        var meta = Folder(status, "meta");
        if (!Enabled || !Directory.Exists(meta))
        {
            return [];
        }

        return [.. Directory.EnumerateFiles(meta, "*.json")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(id => IsId(id!) && (before is null || string.CompareOrdinal(id, before) < 0))
            .OrderDescending(StringComparer.Ordinal)
            .Select(id => Summary(id!, status))
            .OfType<EvidenceSummary>()
            .Where(s => (camera is null || s.Camera == camera) && (verdict is null || string.Equals(s.Verdict, verdict, StringComparison.OrdinalIgnoreCase)) && (kind is null || s.Kind == kind))
            .Take(limit)];
    }

    /// <summary>The item with its labels; null when there is no such item.</summary>
    public EvidenceSummary? Item(string id) => Status(id) is { } status ? Summary(id, status) : null;

    public IReadOnlyList<EvidenceLabel> Labels(string id, IReadOnlyList<string> classes)
    {
        var file = Status(id) is { } status ? Inside(status, "labels", id + ".txt") : null;
        if (file is null || !File.Exists(file))
        {
            return [];
        }

        var labels = new List<EvidenceLabel>();
        foreach (var line in File.ReadLines(file))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 5 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var classId) &&
                parts.Skip(1).Select(p => double.Parse(p, CultureInfo.InvariantCulture)).ToArray() is [var cx, var cy, var w, var h])
            {
                labels.Add(new EvidenceLabel(classId, classId < classes.Count ? classes[classId] : classId.ToString(CultureInfo.InvariantCulture), cx, cy, w, h));
            }
        }

        return labels;
    }

    /// <summary>The evidence's class names (its data.yaml), empty before the worker had a model.</summary>
    public IReadOnlyList<string> ClassNames()
    {
        var yaml = Path.Combine(Root, YoloDatasetWriter.DataYamlName);
        return File.Exists(yaml) ? DatasetLoader.ClassNames(yaml) : [];
    }

    /// <summary>Matches the names the worker gives items: time, camera, sequence and an optional cleaned part id.</summary>
    public static bool IsId(string id) => IdPattern().IsMatch(id) && Path.GetFileName(id) == id;

    private EvidenceSummary? Summary(string id, string status)
    {
        try
        {
            var meta = JsonNode.Parse(File.ReadAllText(Inside(status, "meta", id + ".json")!))!.AsObject();
            return new EvidenceSummary(
                id, Required(meta, "camera").GetValue<string>(), Required(meta, "captureTime").GetValue<DateTimeOffset>(), Required(meta, "verdict").GetValue<string>(), (string?)meta["kind"],
                (string?)meta["partId"], meta["model"]?.DeepClone(), meta["detections"]?.DeepClone(), EvidenceRef.PicturePath(id), status);
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or FormatException)
        {
            return null; // evicted meanwhile, or written by hand: not listed
        }
    }

    private static JsonNode Required(JsonObject meta, string name) => meta[name] ?? throw new FormatException($"no \"{name}\"");

    private string Folder(string status, string part) => status == "pending" ? Path.Combine(Root, part) : Path.Combine(Root, status, part);

    /// <summary>The full path of a part's file when it is inside the evidence folder and not a link; null otherwise.</summary>
    private string? Inside(string status, string part, string file)
    {
        var path = Path.GetFullPath(Path.Combine(Folder(status, part), file));
        if (!path.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return null;
        }

        var info = new FileInfo(path);
        return info.Exists && info.LinkTarget is not null ? null : path;
    }

    [GeneratedRegex("^[0-9]{8}T[0-9]{9}_[A-Za-z0-9][A-Za-z0-9_.-]{0,63}_[0-9]{1,19}(_[A-Za-z0-9_-]{1,64})?$")]
    private static partial Regex IdPattern();
}

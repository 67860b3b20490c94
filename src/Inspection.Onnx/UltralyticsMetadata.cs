using System.Globalization;
using Onnx;

namespace Inspection.Onnx;

/// <summary>
/// The metadata Ultralytics writes into an exported ONNX model (names, imgsz, stride, task, batch, end2end),
/// read leniently: YOLOv5 exports carry only names and stride, other tools may carry none.
/// </summary>
public sealed record UltralyticsMetadata
{
    /// <summary>Class names by id, or null when the model does not name its classes.</summary>
    public IReadOnlyList<string>? Names { get; init; }

    /// <summary>Input size as (height, width), or null when not recorded.</summary>
    public (int Height, int Width)? ImageSize { get; init; }

    public int? Stride { get; init; }
    public string? Task { get; init; }
    public int? Batch { get; init; }
    public bool? EndToEnd { get; init; }
    public string? Version { get; init; }
    public string? Description { get; init; }

    public static UltralyticsMetadata Read(ModelProto model, string source)
    {
        var props = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        try
        {
            return new UltralyticsMetadata
            {
                Names = props.TryGetValue("names", out var names) ? ParseNames(names) : null,
                ImageSize = props.TryGetValue("imgsz", out var imgsz) ? ParseImageSize(imgsz) : null,
                Stride = props.TryGetValue("stride", out var stride) ? (int)ToLong(PythonLiteral.Parse(stride)) : null,
                Task = props.GetValueOrDefault("task"),
                Batch = props.TryGetValue("batch", out var batch) ? (int)ToLong(PythonLiteral.Parse(batch)) : null,
                EndToEnd = props.TryGetValue("end2end", out var e2e) ? PythonLiteral.Parse(e2e) as bool? : null,
                Version = props.GetValueOrDefault("version"),
                Description = props.GetValueOrDefault("description"),
            };
        }
        catch (FormatException e)
        {
            throw new ModelFormatException($"Model '{source}' has metadata that cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Writes this metadata the way Ultralytics does, replacing keys the model already has.</summary>
    public void WriteTo(ModelProto model)
    {
        void Set(string key, string? value)
        {
            if (value is null)
            {
                return;
            }

            var existing = model.MetadataProps.FirstOrDefault(p => p.Key == key);
            if (existing is null)
            {
                model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
            }
            else
            {
                existing.Value = value;
            }
        }

        Set("description", Description);
        Set("version", Version);
        Set("stride", Stride?.ToString(CultureInfo.InvariantCulture));
        Set("task", Task);
        Set("batch", Batch?.ToString(CultureInfo.InvariantCulture));
        Set("imgsz", ImageSize is { } size ? $"[{size.Height}, {size.Width}]" : null);
        Set("names", Names is null ? null : "{" + string.Join(", ", Names.Select((n, i) => $"{i}: {PythonLiteral.Quote(n)}")) + "}");
        Set("end2end", EndToEnd is null ? null : EndToEnd.Value ? "True" : "False");
    }

    private static List<string> ParseNames(string text)
    {
        switch (PythonLiteral.Parse(text))
        {
            case List<object?> list:
                return list.Select(n => n?.ToString() ?? string.Empty).ToList();
            case Dictionary<object, object?> dict:
                var byId = dict.ToDictionary(kv => (int)ToLong(kv.Key), kv => kv.Value?.ToString() ?? string.Empty);
                var count = byId.Count == 0 ? 0 : byId.Keys.Max() + 1;
                return Enumerable.Range(0, count).Select(i => byId.GetValueOrDefault(i, i.ToString(CultureInfo.InvariantCulture))).ToList();
            default:
                throw new FormatException($"'names' should be a dict or list, not \"{text}\"");
        }
    }

    private static (int, int) ParseImageSize(string text) => PythonLiteral.Parse(text) switch
    {
        List<object?> { Count: 2 } hw => ((int)ToLong(hw[0]), (int)ToLong(hw[1])),
        List<object?> { Count: 1 } one => ((int)ToLong(one[0]), (int)ToLong(one[0])),
        var single => ((int)ToLong(single), (int)ToLong(single)),
    };

    private static long ToLong(object? value) => value switch
    {
        long l => l,
        double d when d == Math.Floor(d) => (long)d,
        _ => throw new FormatException($"expected a whole number, found '{value}'"),
    };
}

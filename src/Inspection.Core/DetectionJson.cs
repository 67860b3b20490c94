using System.Text.Json;

namespace Inspection.Core;

/// <summary>
/// Writes detections as JSON the one way every output shares (MQTT results, <c>inspection detect --json</c>), so a
/// consumer parses them alike: {"classId", "class", "score", "box": [x1, y1, x2, y2]}. The score keeps 4 decimals
/// and the box, in source pixels, 1: further digits are noise, not information.
/// </summary>
public static class DetectionJson
{
    /// <summary>Writes <paramref name="detections"/> as an array property of the object being written.</summary>
    /// <param name="className">The class name for a class id (the model's name, or the id when it has none).</param>
    public static void WriteArray(Utf8JsonWriter json, string propertyName, IReadOnlyList<Detection> detections, Func<int, string> className)
    {
        json.WriteStartArray(propertyName);
        foreach (var d in detections)
        {
            json.WriteStartObject();
            json.WriteNumber("classId", d.ClassId);
            json.WriteString("class", className(d.ClassId));
            json.WriteNumber("score", Math.Round(d.Score, 4));
            json.WriteStartArray("box");
            json.WriteNumberValue(Math.Round(d.Box.X1, 1));
            json.WriteNumberValue(Math.Round(d.Box.Y1, 1));
            json.WriteNumberValue(Math.Round(d.Box.X2, 1));
            json.WriteNumberValue(Math.Round(d.Box.Y2, 1));
            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }
}

using System.Text.Json.Nodes;

namespace Inspection.Deploy.Tests;

/// <summary>Reading rendered manifests and the Compose file: paths through JSON that may be absent.</summary>
internal static class Json
{
    public static JsonNode? At(this JsonNode? node, params string[] path)
    {
        foreach (var key in path)
        {
            node = node is JsonObject o && o.TryGetPropertyValue(key, out var child) ? child : null;
        }

        return node;
    }

    public static string? Text(this JsonNode? node, params string[] path) => node.At(path) is JsonValue v ? v.ToString() : null;

    public static IEnumerable<JsonNode> Items(this JsonNode? node, params string[] path) => node.At(path) is JsonArray a ? a.OfType<JsonNode>() : [];

    public static IEnumerable<KeyValuePair<string, JsonNode?>> Entries(this JsonNode? node, params string[] path) => node.At(path) is JsonObject o ? o : [];

    /// <summary>A label selector's matchLabels select a pod with these labels.</summary>
    public static bool Selects(this JsonNode? matchLabels, JsonNode? labels) =>
        matchLabels is JsonObject wanted && wanted.Count > 0 && wanted.All(w => labels.Text(w.Key) == w.Value?.ToString());
}

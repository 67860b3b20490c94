using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Models;

namespace Inspection.Web;

/// <summary>
/// The registry's part of the model page (Inspection:Model:Registry and Name): every version of the worker's model
/// with its card's figures, whether it is signed, and which one is current and which serves; and the serving
/// version's card. Read with the registry's own reader at each request, so a version registered or promoted from
/// the command line shows at once.
/// </summary>
public sealed class RegistryView(WebHostContext context)
{
    private readonly ModelRegistry? _registry = context.RegistryRoot is { Length: > 0 } root && context.ModelName is { Length: > 0 } ? new ModelRegistry(root) : null;

    /// <summary>
    /// Adds "versions" (newest first) and the serving version's "card" and "metrics" to the model command's answer;
    /// nothing when the worker serves a model file. A registry that cannot be read is named in "registryError".
    /// </summary>
    public void AddTo(JsonObject model)
    {
        if (_registry is null)
        {
            return;
        }

        var name = context.ModelName!;
        var serving = model["serving"] as JsonObject;
        // The model command names the serving version as results do ("3"); a registry's versions are numbers.
        int? servingVersion = serving?["name"]?.ToString() == name && int.TryParse(serving["version"]?.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : null;
        try
        {
            var current = _registry.Pointer(name)?.Version;
            var versions = _registry.Versions(name);
            model["versions"] = new JsonArray([.. versions.Reverse().Select(v => (JsonNode?)Version(v, current, servingVersion))]);
            if (serving is not null && versions.FirstOrDefault(v => v.Version == servingVersion) is { } served)
            {
                serving["card"] = JsonSerializer.SerializeToNode(served.Card, WebJson.Options);
                serving["metrics"] = JsonSerializer.SerializeToNode(served.Card.Metrics, WebJson.Options);
            }
        }
        catch (Exception e) when (e is InspectionInputException or IOException or UnauthorizedAccessException)
        {
            model["registryError"] = $"the registry {_registry.Root} cannot be read: {e.Message}";
        }
    }

    private static JsonObject Version(RegisteredModel version, int? current, int? serving)
    {
        SignatureFile? signature = null;
        string? signatureError = null;
        try
        {
            signature = ModelSignature.Read(version);
        }
        catch (InspectionInputException e)
        {
            signatureError = e.Message;
        }

        return new JsonObject
        {
            ["version"] = version.Version,
            ["created"] = version.Card.Created,
            ["parent"] = version.Card.Parent,
            ["metrics"] = JsonSerializer.SerializeToNode(version.Card.Metrics, WebJson.Options),
            ["signed"] = signature is not null,
            ["signedBy"] = signature?.KeyId,
            ["signatureError"] = signatureError,
            ["current"] = version.Version == current,
            ["serving"] = version.Version == serving,
        };
    }
}

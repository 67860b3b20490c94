using System.Text.Json.Nodes;
using Inspection.Access;

namespace Inspection.Web;

/// <summary>Who is signed in to the screen: an Operator steers, a Scada user views.</summary>
public sealed record WebUser(string Name, Role Role);

/// <summary>A line command's outcome as HTTP sees it: 200, 400, 403, 404, 504 or 500, with its result or error.</summary>
public sealed record LineCommandResult(int Status, JsonNode? Result, string? Error);

/// <summary>The worker's commands (the ones MQTT runs), authorised and audited on the same path.</summary>
public interface ILineCommands
{
    Task<LineCommandResult> RunAsync(WebUser user, string command, string? camera, JsonObject arguments, bool audit, CancellationToken cancel);

    /// <summary>Audits what is no command (login, logout).</summary>
    Task AuditAsync(WebUser? user, string userName, string command, string outcome, string? reason);
}

/// <summary>A camera as the screen lists it.</summary>
public sealed record WebCamera(string Id, bool Triggered);

/// <summary>What the worker tells the web module at start.</summary>
public sealed record WebHostContext(
    WebOptions Web, string EvidenceRoot, bool EvidenceEnabled, string? RegistryRoot, string? ModelName,
    IReadOnlyList<WebCamera> Cameras, double MinConfidence, double MaxConfidence, string? UsersFile);

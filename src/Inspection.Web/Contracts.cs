using System.Text.Json.Nodes;
using Inspection.Access;

namespace Inspection.Web;

/// <summary>A person signed in to the screen. Role is <see cref="Role.Operator"/> (may steer) or <see cref="Role.Scada"/> (views).</summary>
public sealed record WebUser(string Name, Role Role);

/// <summary>A command's answer as HTTP sees it: Status 200/400/403/404/504/500, the handler's result or the refusal's reason.</summary>
public sealed record LineCommandResult(int Status, JsonNode? Result, string? Error);

/// <summary>
/// The worker's one command path (the same authorisation, limits and audit events as MQTT commands), as the web
/// view calls it. Implemented by the worker.
/// </summary>
public interface ILineCommands
{
    Task<LineCommandResult> RunAsync(WebUser user, string command, string? camera, JsonObject arguments, bool audit, CancellationToken cancel);

    /// <summary>Audits what is not a command: log-ins and log-outs (<paramref name="user"/> is null when the name is unknown).</summary>
    Task AuditAsync(WebUser? user, string userName, string command, string outcome, string? reason);
}

/// <summary>What the worker tells the web view about itself at start, built from its options.</summary>
public sealed record WebHostContext(
    WebOptions Web, string EvidenceRoot, bool EvidenceEnabled, string? RegistryRoot, string? ModelName,
    IReadOnlyList<WebCamera> Cameras, double MinConfidence, double MaxConfidence, string? UsersFile);

/// <summary>A configured camera; Triggered cameras inspect on a PLC's trigger and carry part ids.</summary>
public sealed record WebCamera(string Id, bool Triggered);

/// <summary>Marks the web view's endpoints: the worker serves them on the web listener only, and nothing else there.</summary>
public sealed class WebEndpointMetadata
{
    public static readonly WebEndpointMetadata Instance = new();
}

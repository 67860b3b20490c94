using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Web;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Control;

/// <summary>
/// The one path a command takes, whoever sends it (MQTT or the web screen): authorise the requester's role, run it
/// within its time, audit it. Steering commands and refusals are always audited; reads only when the caller asks
/// (MQTT audits everything, the screen's polling reads are not worth an event each).
/// </summary>
public sealed class CommandGate(CommandRouter router, AuditLog auditLog, IOptions<InspectionOptions> options) : ILineCommands
{
    public const string WebSource = "web";

    private readonly TimeSpan _timeout = options.Value.Access.CommandTimeout;

    /// <summary>Runs an identified requester's command and audits it; the outcome carries the reply.</summary>
    public async Task<CommandOutcome> RunAsync(string source, Requester who, string name, string? camera, ReadOnlyMemory<byte> payload, bool audit, CancellationToken cancel) =>
        (await RunCheckedAsync(source, who, name, camera, payload, audit, cancel).ConfigureAwait(false)).Outcome;

    /// <summary>A web user's command: the same path, with the outcome as an HTTP status and the reply's result or error.</summary>
    public async Task<LineCommandResult> RunAsync(WebUser user, string command, string? camera, JsonObject arguments, bool audit, CancellationToken cancel)
    {
        var (outcome, forbidden) = await RunCheckedAsync(WebSource, WebRequester(user.Name, user.Role), command, camera, JsonSerializer.SerializeToUtf8Bytes(arguments), audit, cancel).ConfigureAwait(false);
        var reply = JsonNode.Parse(outcome.Reply)!.AsObject();
        var status = outcome.Outcome switch
        {
            "accepted" => 200,
            "timed_out" => 504,
            "failed" => 500,
            _ when forbidden => 403,
            _ when outcome.Reason?.StartsWith("no such", StringComparison.OrdinalIgnoreCase) == true || outcome.Reason?.StartsWith("unknown command", StringComparison.Ordinal) == true => 404,
            _ => 400,
        };
        return new LineCommandResult(status, status == 200 ? reply["result"]?.DeepClone() : null, status == 200 ? null : (string?)reply["error"]);
    }

    /// <summary>What is no command but is audited alike: logins and logouts on the screen.</summary>
    public Task AuditAsync(WebUser? user, string userName, string command, string outcome, string? reason) =>
        auditLog.RecordAsync(WebSource, WebRequester(user?.Name ?? userName, user?.Role), command, null, outcome, reason);

    private static Requester WebRequester(string name, Access.Role? role) => new(name, role, "web session");

    private async Task<(CommandOutcome Outcome, bool Forbidden)> RunCheckedAsync(string source, Requester who, string name, string? camera, ReadOnlyMemory<byte> payload, bool audit, CancellationToken cancel)
    {
        var steers = router.Steers(name);
        CommandOutcome outcome;
        var forbidden = false;
        try
        {
            CommandAuthority.Authorize(who, name, steers);
            outcome = await router.HandleAsync(name, camera, payload, _timeout, cancel).ConfigureAwait(false);
        }
        catch (InspectionInputException e)
        {
            forbidden = true; // only the role check throws here: the router answers its own refusals
            outcome = CommandRouter.Refusal(name, camera, e.Message);
        }

        if (audit || steers || outcome.Outcome != "accepted")
        {
            await auditLog.RecordAsync(source, who, name, camera, outcome.Outcome, outcome.Reason).ConfigureAwait(false);
        }

        return (outcome, forbidden);
    }
}

using System.Text.Json;
using Inspection.Core;
using Inspection.Worker.Observability;
using Inspection.Worker.Output;
using Microsoft.Extensions.Logging;

namespace Inspection.Worker.Control;

/// <summary>Who asked for something that changes or reads the line's steering, and how it went.</summary>
/// <param name="Via">How the requester was known: "embedded broker" (its login), "signature" (its key), or "broker ACL" (not known here: the broker admitted it).</param>
public sealed record Requester(string Name, Access.Role? Role, string Via)
{
    public static Requester Unknown { get; } = new("unknown", null, "broker ACL");

    public override string ToString() => Role is { } role ? $"{Name} ({role}, by {Via})" : $"{Name} (by {Via})";
}

/// <summary>One audit event: published on {line}/service/audit, logged, and counted in inspection_commands_total.</summary>
public sealed record AuditEvent(DateTimeOffset Time, string Source, string User, string? Role, string Via, string Command, string? Camera, string Outcome, string? Reason);

/// <summary>
/// Every command, accepted or refused, leaves a trace: an audit event through the sinks (the JSON sink publishes it
/// on {line}/service/audit), a log line and a metric. Refusals by the embedded broker (a wrong password, a publish
/// the role may not make) are audited too.
/// </summary>
public sealed class AuditLog
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly SinkFanOut _sinks;
    private readonly WorkerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _clock;
    private readonly CommandRouter _commands;

    public AuditLog(SinkFanOut sinks, MessagingHost messaging, CommandRouter commands, WorkerMetrics metrics, TimeProvider clock, ILogger<AuditLog> logger)
    {
        (_sinks, _commands, _metrics, _logger, _clock) = (sinks, commands, metrics, logger, clock);
        messaging.BrokerDenied += (user, topic, action) => _ = RecordAsync("embedded broker", new Requester(user, null, "embedded broker"),
            action == "connect" ? "connect" : CommandOf(topic, messaging.Session.Topics), null, "refused", action == "connect" ? "unknown user or wrong password" : $"may not {action} on {topic}");
    }

    /// <param name="command">The command's name, or "trigger", "connect", "publish", or the screen's "login" and "logout"; names nobody registered count as "unknown" in the metric, so a sender cannot make new series.</param>
    public async Task RecordAsync(string source, Requester requester, string command, string? camera, string outcome, string? reason)
    {
        var audit = new AuditEvent(_clock.GetUtcNow(), source, requester.Name, requester.Role?.ToString(), requester.Via, command, camera, outcome, reason);
        var known = _commands.Knows(command) || command is "trigger" or "connect" or "publish" or "login" or "logout";
        _metrics.Commands.WithLabels(known ? command : "unknown", outcome).Inc();
        if (outcome == "accepted")
        {
            _logger.LogInformation("Audit: {Command} for {Camera} by {Requester}: {Outcome}.", command, camera ?? "the line", requester, outcome);
        }
        else
        {
            _logger.LogWarning("Audit: {Command} for {Camera} by {Requester}: {Outcome} ({Reason}).", command, camera ?? "the line", requester, outcome, reason);
        }

        await _sinks.PublishAsync(SinkItem.ForEvent(new ServiceEvent("audit", JsonSerializer.SerializeToUtf8Bytes(audit, Json)))).ConfigureAwait(false);
    }

    /// <summary>The command a refused publish was: its name on a command topic, "trigger" on a trigger topic, else "publish".</summary>
    private static string CommandOf(string topic, Messaging.MqttTopics topics) =>
        topics.Command(topic) is { } command ? command.Name : topics.TriggerCamera(topic) is not null ? "trigger" : "publish";
}

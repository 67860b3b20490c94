using Inspection.Access;
using Inspection.Core;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Control;

/// <summary>
/// Who sent a request, and whether that role may make it. A sender is known by a command's signature (its key),
/// or by the embedded broker's stamp when that broker enforces the users file; otherwise the broker's own ACL
/// admitted it and the requester is unknown here. Operators steer (thresholds, models); PLCs and operators
/// trigger; everyone known may run the commands that only read.
/// </summary>
public sealed class CommandAuthority
{
    private readonly Dictionary<string, AccessUser> _users;
    private readonly SignedCommand? _signatures;
    private readonly bool _requireSigned;
    private readonly bool _trustStamps;

    public CommandAuthority(IOptions<InspectionOptions> options, TimeProvider clock)
    {
        var access = options.Value.Access;
        _users = access.UsersFile is { Length: > 0 } users ? UsersFile.Load(users).ToDictionary(u => u.Name, StringComparer.Ordinal) : [];
        _signatures = access.CommandKeysFile is { Length: > 0 } keys ? new SignedCommand(CommandKeys.Load(keys), access.SignatureWindow, clock) : null;
        _requireSigned = access.RequireSignedCommands;
        _trustStamps = options.Value.Mqtt.UsesEmbeddedBroker && _users.Count > 0; // only our own broker's stamp can be believed
    }

    /// <summary>
    /// The requester of a command and the command's own JSON: the signature's key when it is signed, else the
    /// sender the broker stamped. Throws <see cref="InspectionInputException"/> for a bad signature, or a missing
    /// one when signatures are required.
    /// </summary>
    public (Requester Requester, ReadOnlyMemory<byte> Command) Identify(string topic, ReadOnlyMemory<byte> payload, string? sender)
    {
        if (_signatures is not null && SignedCommand.IsEnvelope(payload.Span))
        {
            var (key, command) = _signatures.Verify(topic, payload.Span);
            return (new Requester(key.Id, key.Role, "signature"), command);
        }

        if (_requireSigned)
        {
            throw new InspectionInputException("this worker takes signed commands only (Inspection:Access:RequireSignedCommands); sign it with 'inspection command sign'");
        }

        return (Sender(sender), payload);
    }

    /// <summary>The user the embedded broker stamped on a message; unknown when no stamp can be believed.</summary>
    public Requester Sender(string? stamp) =>
        _trustStamps && stamp is not null && _users.TryGetValue(stamp, out var user) ? new Requester(user.Name, user.Role, "embedded broker") : Requester.Unknown;

    /// <summary>Throws when the requester's role may not run <paramref name="command"/>.</summary>
    public static void Authorize(Requester requester, string command, bool steers)
    {
        if (steers && requester.Role is { } role && role != Role.Operator)
        {
            throw new InspectionInputException($"{requester.Name} is {Describe(role)}: only operators may run '{command}'");
        }
    }

    /// <summary>Throws when the requester's role may not trigger inspections (only PLCs and operators may).</summary>
    public static void AuthorizeTrigger(Requester requester)
    {
        if (requester.Role is Role.Scada or Role.Worker)
        {
            throw new InspectionInputException($"{requester.Name} is {Describe(requester.Role.Value)}: only PLCs and operators may trigger inspections");
        }
    }

    private static string Describe(Role role) => role switch
    {
        Role.Plc => "a PLC",
        Role.Scada => "a SCADA reader",
        Role.Operator => "an operator",
        _ => "the worker",
    };
}

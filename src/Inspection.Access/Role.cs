namespace Inspection.Access;

/// <summary>What a user of the line's broker is: each role may publish and read its own topics only (<see cref="TopicRules"/>).</summary>
public enum Role
{
    /// <summary>The inspection worker itself: publishes results, reads triggers and commands.</summary>
    Worker,

    /// <summary>A PLC: triggers inspections and reads verdicts; sends no commands.</summary>
    Plc,

    /// <summary>A person or HMI that steers the line: commands (thresholds, models) as well as triggers.</summary>
    Operator,

    /// <summary>A SCADA host or historian: reads everything, changes nothing.</summary>
    Scada,
}

/// <summary>A user of the line: a name, a role, and (for the broker) a password hash; never a password.</summary>
public sealed record AccessUser(string Name, Role Role, string? PasswordHash);

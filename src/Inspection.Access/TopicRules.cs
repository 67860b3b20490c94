using System.Text;

namespace Inspection.Access;

/// <summary>One grant: a user may publish (write) or receive (read) on topics matching <see cref="Filter"/>.</summary>
public sealed record TopicGrant(bool Read, bool Write, string Filter);

/// <summary>
/// What each role may publish and read on one line's broker ({prefix}/{site}/{line} and, with Sparkplug, its
/// group). The embedded broker checks these; <see cref="WriteMosquittoAcl"/> writes the same as a mosquitto ACL file.
/// Replies to a user's requests go to the line's tree (the request topic + "/reply", or a response topic under
/// {line}/replies/{user}/), so each role reads its own replies and no one else's.
/// </summary>
public sealed class TopicRules(string lineRoot, string? sparkplugGroup = null)
{
    public string LineRoot { get; } = lineRoot;

    /// <summary>Where a user's MQTT 5 response topics may point inside the line's tree.</summary>
    public string Replies(string user) => $"{LineRoot}/replies/{user}/#";

    public IReadOnlyList<TopicGrant> Grants(AccessUser user)
    {
        var line = LineRoot;
        var sparkplug = sparkplugGroup is null ? null : $"spBv1.0/{sparkplugGroup}";
        List<TopicGrant> grants = user.Role switch
        {
            Role.Worker =>
            [
                new(Read: true, Write: true, $"{line}/#"),
            ],
            Role.Plc =>
            [
                new(Read: false, Write: true, $"{line}/+/trigger"),
                new(Read: true, Write: false, $"{line}/+/trigger/reply"),
                new(Read: true, Write: false, $"{line}/+/result"),
                new(Read: true, Write: false, $"{line}/+/defect"),
                new(Read: true, Write: false, $"{line}/+/status"),
                new(Read: true, Write: false, $"{line}/service/#"),
                new(Read: true, Write: false, Replies(user.Name)),
            ],
            Role.Operator =>
            [
                new(Read: true, Write: false, $"{line}/#"),
                new(Read: false, Write: true, $"{line}/cmd/+"),
                new(Read: false, Write: true, $"{line}/+/cmd/+"),
                new(Read: false, Write: true, $"{line}/+/trigger"),
            ],
            _ =>
            [
                new(Read: true, Write: false, $"{line}/#"),
            ],
        };
        if (sparkplug is not null)
        {
            grants.AddRange(user.Role switch
            {
                Role.Worker => [new(Read: true, Write: true, $"{sparkplug}/#"), new(Read: true, Write: false, "spBv1.0/STATE/+")],
                Role.Scada => [new(Read: true, Write: false, $"{sparkplug}/#"), new(Read: true, Write: true, $"spBv1.0/STATE/{user.Name}"), new(Read: false, Write: true, $"{sparkplug}/NCMD/+")],
                Role.Operator => [new(Read: true, Write: false, $"{sparkplug}/#")],
                _ => [],
            });
        }

        return grants;
    }

    public bool CanWrite(AccessUser user, string topic) => Grants(user).Any(g => g.Write && Matches(g.Filter, topic));

    public bool CanRead(AccessUser user, string topic) => Grants(user).Any(g => g.Read && Matches(g.Filter, topic));

    /// <summary>Mosquitto's ACL file (acl_file): a "user" section per user with its grants.</summary>
    public string WriteMosquittoAcl(IEnumerable<AccessUser> users)
    {
        var text = new StringBuilder()
            .AppendLine("# Written by 'inspection broker acl' from the users file: one section per user, by role.")
            .AppendLine("# Regenerate it when users or roles change; mosquitto reads it at start and on SIGHUP.");
        foreach (var user in users.OrderBy(u => u.Name, StringComparer.Ordinal))
        {
            text.AppendLine().AppendLine($"# {user.Role}").AppendLine($"user {user.Name}");
            foreach (var grant in Grants(user))
            {
                text.AppendLine($"topic {(grant.Read, grant.Write) switch { (true, true) => "readwrite", (true, false) => "read", _ => "write" }} {grant.Filter}");
            }
        }

        return text.ToString();
    }

    /// <summary>MQTT topic filter matching: '+' one level, '#' the rest (and the level above it).</summary>
    public static bool Matches(string filter, string topic)
    {
        var f = filter.Split('/');
        var t = topic.Split('/');
        for (var i = 0; i < f.Length; i++)
        {
            if (f[i] == "#")
            {
                return true;
            }

            if (i >= t.Length || (f[i] != "+" && f[i] != t[i]))
            {
                return false;
            }
        }

        return f.Length == t.Length;
    }
}

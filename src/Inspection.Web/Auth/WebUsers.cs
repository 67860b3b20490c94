using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Inspection.Access;

namespace Inspection.Web;

/// <summary>
/// Who may sign in to the screen: the line's users file (Access:UsersFile), the same one the broker and the MQTT
/// commands use. Operators may steer, SCADA users view; PLC and worker accounts are machines and have no screen.
/// Without a users file on a loopback listener, everyone on this host is a viewer ("local viewer").
/// </summary>
public sealed class WebUsers
{
    public const string OperatorRole = "operator", ViewerRole = "viewer", StampClaim = "stamp", SessionClaim = "session";

    // Verified when the name is unknown, so that an unknown name takes as long as a wrong password.
    private static readonly string DummyHash = PasswordHash.Create(Guid.NewGuid().ToString());
    private readonly Dictionary<string, AccessUser> _users;

    public WebUsers(WebHostContext context)
    {
        _users = context.UsersFile is { } file ? UsersFile.Load(file).ToDictionary(u => u.Name, StringComparer.Ordinal) : [];
        LocalViewer = context.UsersFile is null;
    }

    /// <summary>No users file: read-only for everyone (the listener is loopback, which the options check).</summary>
    public bool LocalViewer { get; }

    /// <summary>The user when the password is right (null otherwise), in constant time per attempt.</summary>
    public AccessUser? Verify(string name, string password)
    {
        var user = _users.GetValueOrDefault(name);
        var hash = user?.PasswordHash ?? DummyHash;
        return PasswordHash.Verify(password, hash) && user?.PasswordHash is not null ? user : null;
    }

    /// <summary>"operator", "viewer", or null for a machine account.</summary>
    public static string? WebRole(Role role) => role switch
    {
        Role.Operator => OperatorRole,
        Role.Scada => ViewerRole,
        _ => null,
    };

    /// <summary>A new session of <paramref name="user"/>, with an id of its own (<see cref="WebSessions"/>).</summary>
    public static ClaimsPrincipal Principal(AccessUser user, string scheme) =>
        new(new ClaimsIdentity(
            [
                new Claim(ClaimTypes.Name, user.Name), new Claim(ClaimTypes.Role, WebRole(user.Role)!), new Claim(StampClaim, Stamp(user)),
                new Claim(SessionClaim, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))),
            ], scheme));

    /// <summary>The session's id; null without a session (a local viewer).</summary>
    public static string? SessionId(ClaimsPrincipal principal) => principal.FindFirst(SessionClaim)?.Value;

    /// <summary>The signed-in user, or null (anonymous, or a local viewer).</summary>
    public static WebUser? Of(ClaimsPrincipal principal) =>
        principal.Identity is { IsAuthenticated: true, Name: { } name }
            ? new WebUser(name, principal.IsInRole(OperatorRole) ? Role.Operator : Role.Scada)
            : null;

    /// <summary>True while the session's user still exists with the same role and password.</summary>
    public bool StillValid(ClaimsPrincipal principal) =>
        principal.Identity?.Name is { } name && _users.TryGetValue(name, out var user) && WebRole(user.Role) is { } role &&
        principal.IsInRole(role) && principal.FindFirst(StampClaim)?.Value == Stamp(user);

    /// <summary>Changes when the password changes, so sessions signed in with the old one end.</summary>
    private static string Stamp(AccessUser user) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(user.PasswordHash ?? "")))[..16];
}

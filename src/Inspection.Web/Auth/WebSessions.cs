using System.Security.Claims;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Web;

/// <summary>
/// The screen's sessions by the id each sign-in gets (<see cref="WebUsers.SessionClaim"/>), so that a session ends
/// for good: the cookie alone cannot, as a copy of it stays valid until it expires. A session signed out is refused
/// from then on, and remembered until its cookie would have expired anyway (in KeysDirectory/signed-out.json, so a
/// restart does not bring it back). Each open session has a token that is cancelled when it is signed out or
/// expires (sliding, as its cookie): the SSE and MJPEG streams it opened end with it.
/// </summary>
public sealed class WebSessions
{
    public const string FileName = "signed-out.json";
    private readonly Dictionary<string, OpenSession> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _signedOut;
    private readonly Lock _lock = new();
    private readonly string _file;
    private readonly TimeSpan _length;
    private readonly TimeProvider _time;

    public WebSessions(WebOptions options, TimeProvider time)
    {
        (_file, _length, _time) = (Path.Combine(options.KeysDirectory, FileName), options.Session, time);
        _signedOut = Load(_file, time.GetUtcNow());
    }

    /// <summary>True when the session was signed out (or ended because its user changed).</summary>
    public bool IsSignedOut(string session)
    {
        lock (_lock)
        {
            return _signedOut.ContainsKey(session);
        }
    }

    /// <summary>A request of the session was let in; its cookie is valid until <paramref name="expires"/>.</summary>
    public void Seen(string session, DateTimeOffset expires)
    {
        var left = expires - _time.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            return;
        }

        lock (_lock)
        {
            if (_signedOut.ContainsKey(session))
            {
                return;
            }

            if (_open.TryGetValue(session, out var open) && !open.Ending.IsCancellationRequested)
            {
                if (expires > open.Until) // a renewed cookie; an older copy still in flight does not shorten it
                {
                    open.Until = expires;
                    open.Ending.CancelAfter(Limit(left));
                }

                return;
            }

            open = new OpenSession(new CancellationTokenSource(Limit(left), _time), expires);
            _open[session] = open;
            open.Ending.Token.Register(() => Forget(session, open));
        }
    }

    /// <summary>
    /// Cancelled when the request's session is signed out or expires; never for a request without one (a local
    /// viewer). A session this table does not know has ended already.
    /// </summary>
    public CancellationToken Ending(ClaimsPrincipal user)
    {
        if (WebUsers.SessionId(user) is not { } session)
        {
            return CancellationToken.None;
        }

        lock (_lock)
        {
            return _open.TryGetValue(session, out var open) ? open.Ending.Token : new CancellationToken(canceled: true);
        }
    }

    /// <summary>Ends the session: refused from now on, its streams closed.</summary>
    public void SignOut(string session)
    {
        OpenSession? open;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            foreach (var expired in _signedOut.Where(s => s.Value <= now).Select(s => s.Key).ToList())
            {
                _signedOut.Remove(expired);
            }

            _signedOut[session] = now + _length; // no cookie of it can be valid later than that
            _open.Remove(session, out open);
        }

        open?.Ending.Cancel();
        lock (_lock)
        {
            Save(); // after the streams are closed: a folder that cannot be written does not keep them open
        }
    }

    /// <summary>A timer takes at most about 49 days; sessions are at most 30.</summary>
    private static TimeSpan Limit(TimeSpan left) => left > TimeSpan.FromDays(31) ? TimeSpan.FromDays(31) : left;

    private void Forget(string session, OpenSession ended)
    {
        lock (_lock)
        {
            if (_open.TryGetValue(session, out var current) && current == ended)
            {
                _open.Remove(session);
            }
        }
    }

    private void Save()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_file)!);
        var temporary = _file + $".{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(_signedOut));
        File.Move(temporary, _file, overwrite: true); // a rename: a crash leaves the old list or the new, never half
    }

    private static Dictionary<string, DateTimeOffset> Load(string file, DateTimeOffset now)
    {
        if (!File.Exists(file))
        {
            return new(StringComparer.Ordinal);
        }

        try
        {
            var kept = JsonSerializer.Deserialize<Dictionary<string, DateTimeOffset>>(File.ReadAllText(file)) ?? [];
            return new(kept.Where(s => s.Value > now), StringComparer.Ordinal);
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"'{file}' is not the screen's list of signed-out sessions ({e.Message}); delete it (sessions signed out before become usable again until they expire).");
        }
    }

    private sealed class OpenSession(CancellationTokenSource ending, DateTimeOffset until)
    {
        public CancellationTokenSource Ending { get; } = ending;

        /// <summary>The latest expiry of its cookie seen.</summary>
        public DateTimeOffset Until { get; set; } = until;
    }
}

namespace Inspection.Web;

/// <summary>
/// Locks a user name out after <see cref="WebOptions.LockoutFailures"/> wrong passwords in a row, for
/// <see cref="WebOptions.LockoutMinutes"/>. Per name, so a guesser cannot lock out a whole line by address; the
/// table is capped, the least recently tried name goes first.
/// </summary>
public sealed class LoginThrottle(WebOptions options, TimeProvider time)
{
    public const int MaxNames = 10_000;
    private readonly Dictionary<string, Entry> _names = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>How long the name stays locked; null when it may try.</summary>
    public TimeSpan? LockedFor(string name)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            return _names.TryGetValue(name, out var entry) && entry.LockedUntil > now ? entry.LockedUntil - now : null;
        }
    }

    /// <summary>Counts a wrong password; true when this one locked the name.</summary>
    public bool Failed(string name)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (!_names.TryGetValue(name, out var entry))
            {
                if (_names.Count >= MaxNames)
                {
                    _names.Remove(_names.MinBy(n => n.Value.LastTry).Key);
                }

                _names[name] = entry = new Entry();
            }

            entry.LastTry = now;
            if (++entry.Failures < options.LockoutFailures)
            {
                return false;
            }

            entry.Failures = 0;
            entry.LockedUntil = now + options.Lockout;
            return true;
        }
    }

    public void Succeeded(string name)
    {
        lock (_lock)
        {
            _names.Remove(name);
        }
    }

    private sealed class Entry
    {
        public int Failures { get; set; }
        public DateTimeOffset LastTry { get; set; }
        public DateTimeOffset LockedUntil { get; set; }
    }
}

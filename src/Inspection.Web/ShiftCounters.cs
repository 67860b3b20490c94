using System.Globalization;
using Inspection.Core;

namespace Inspection.Web;

/// <summary>A camera's counts for the shift; yield = OK / (OK + NG), null before the first judged part.</summary>
public sealed record ShiftCount(long Ok, long Ng, long Unknown)
{
    public double? Yield => Ok + Ng == 0 ? null : Math.Round((double)Ok / (Ok + Ng), 4);
}

/// <summary>The shift's current bounds.</summary>
public sealed record ShiftBounds(DateTimeOffset Start, DateTimeOffset End);

/// <summary>
/// OK/NG/UNKNOWN per camera since the shift began (ShiftStarts, local time). Kept in memory: a restart starts at
/// zero, Prometheus keeps the long term.
/// </summary>
public sealed class ShiftCounters(WebOptions options, TimeProvider time)
{
    private readonly TimeOnly[] _starts = [.. options.ShiftStarts.Select(s => TimeOnly.ParseExact(s, "HH:mm", CultureInfo.InvariantCulture)).Order()];
    private readonly Dictionary<string, long[]> _counts = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private DateTimeOffset _shiftStart = DateTimeOffset.MinValue;

    public void Count(string camera, Verdict verdict)
    {
        lock (_lock)
        {
            Roll();
            if (!_counts.TryGetValue(camera, out var counts))
            {
                _counts[camera] = counts = new long[3];
            }

            counts[(int)verdict]++;
        }
    }

    public ShiftCount Of(string camera)
    {
        lock (_lock)
        {
            Roll();
            return _counts.TryGetValue(camera, out var c) ? new ShiftCount(c[0], c[1], c[2]) : new ShiftCount(0, 0, 0);
        }
    }

    public ShiftBounds Bounds()
    {
        var now = time.GetLocalNow();
        if (_starts.Length == 0)
        {
            return new ShiftBounds(Local(now.Date), Local(now.Date.AddDays(1))); // no shifts configured: the day is the shift
        }

        var today = DateOnly.FromDateTime(now.DateTime);
        var candidates = new[] { today.AddDays(-1), today, today.AddDays(1) }
            .SelectMany(day => _starts.Select(s => Local(day.ToDateTime(s))))
            .ToArray();
        var start = candidates.Last(c => c <= now);
        return new ShiftBounds(start, candidates.First(c => c > start));
    }

    private DateTimeOffset Local(DateTime local) => new(local, time.LocalTimeZone.GetUtcOffset(local));

    private void Roll()
    {
        var start = Bounds().Start;
        if (start != _shiftStart)
        {
            _shiftStart = start;
            _counts.Clear();
        }
    }
}

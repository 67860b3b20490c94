using Inspection.Core;

namespace Inspection.Web.Tests;

/// <summary>Shift counts restart at the configured local times; the ring pages newest first and replays what is newer.</summary>
public sealed class ShiftCountersTests
{
    [Fact]
    public void CountsRestartAtEachShiftStartAndTheNightShiftSpansMidnight()
    {
        var clock = new Clock(new DateTimeOffset(2026, 11, 28, 13, 59, 0, TimeSpan.Zero));
        var shift = new ShiftCounters(new WebOptions(), clock);
        shift.Count("cam1", Verdict.Ok);
        shift.Count("cam1", Verdict.Ng);
        Assert.Equal(new ShiftCount(1, 1, 0), shift.Of("cam1"));
        Assert.Equal(0.5, shift.Of("cam1").Yield);
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 6, 0, 0, TimeSpan.Zero), shift.Bounds().Start);

        clock.Now = clock.Now.AddMinutes(2);
        Assert.Equal(new ShiftCount(0, 0, 0), shift.Of("cam1"));
        Assert.Null(shift.Of("cam1").Yield);

        clock.Now = new DateTimeOffset(2026, 11, 29, 3, 0, 0, TimeSpan.Zero);
        Assert.Equal(new ShiftBounds(new DateTimeOffset(2026, 11, 28, 22, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 29, 6, 0, 0, TimeSpan.Zero)), shift.Bounds());
    }

    [Fact]
    public void TheRingKeepsTheNewestAndPagesThem()
    {
        var ring = new FeedRing(10);
        for (var i = 1; i <= 25; i++)
        {
            ring.Add(ResultSummary.Of(i, WebApp.Result(i % 2 == 0 ? "cam1" : "cam2", i, Verdict.Ok), evidenceBaseUrl: null));
        }

        Assert.Equal([25L, 24, 23], ring.Before(long.MaxValue, 3, FeedFilter.All).Select(r => r.Seq));
        Assert.Equal([22L, 20, 18, 16], ring.Before(23, 10, FeedFilter.Parse("cam1", null, null)).Select(r => r.Seq));
        Assert.Equal([24L, 25], ring.After(23, FeedFilter.All).Select(r => r.Seq));
        Assert.Equal(10, ring.After(0, FeedFilter.All).Count); // the oldest were overwritten
    }

    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }
}

using Inspection.Core;

namespace Inspection.Vision.Tests;

public sealed class BackoffTests
{
    [Fact]
    public void Delays_double_from_the_initial_one_up_to_the_maximum_with_twenty_percent_jitter()
    {
        var initial = TimeSpan.FromMilliseconds(250);
        var max = TimeSpan.FromSeconds(3);
        for (var attempt = 0; attempt < 30; attempt++)
        {
            var nominal = Math.Min(250 * Math.Pow(2, Math.Min(attempt, 16)), 3000);
            var delays = Enumerable.Range(0, 200).Select(_ => Backoff.Delay(attempt, initial, max).TotalMilliseconds).ToList();
            Assert.All(delays, d => Assert.InRange(d, nominal * 0.8, nominal * 1.2));
            Assert.True(delays.Max() - delays.Min() > nominal * 0.1, "the delays should be spread, not in step");
        }
    }
}

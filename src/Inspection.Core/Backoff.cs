namespace Inspection.Core;

/// <summary>Exponential back-off with jitter, for everything that reconnects: cameras, brokers.</summary>
public static class Backoff
{
    /// <summary>
    /// The wait before attempt <paramref name="attempt"/> (0 first): initial x 2^attempt, capped at max, then
    /// +-20 % at random so that many clients on one network do not retry in step.
    /// </summary>
    public static TimeSpan Delay(int attempt, TimeSpan initial, TimeSpan max)
    {
        var milliseconds = Math.Min(initial.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 16)), max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(milliseconds * (0.8 + (0.4 * Random.Shared.NextDouble())));
    }
}

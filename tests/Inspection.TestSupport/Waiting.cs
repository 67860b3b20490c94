using System.Diagnostics;
using Xunit;

namespace Inspection.TestSupport;

/// <summary>Waiting for what real servers and processes do in their own time, with a failure that says what never came.</summary>
public static class Waiting
{
    /// <param name="context">What to add to the failure (a worker's last log lines).</param>
    public static async Task WaitUntil(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? context = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < limit, $"timed out waiting for {what}{(context is null ? string.Empty : "\n" + context())}");
            await Task.Delay(50);
        }
    }
}

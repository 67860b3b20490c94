namespace Inspection.TestSupport;

/// <summary>
/// How much a heavy test does: a fixed-seed sample in CI and by default; the whole campaign with
/// <c>tools/test.sh --full</c> (INSPECTION_FULL=1), which is run before an issue is resolved.
/// </summary>
public static class TestScale
{
    public static bool Full => Environment.GetEnvironmentVariable("INSPECTION_FULL") == "1";

    /// <summary><paramref name="sample"/> by default, <paramref name="full"/> with --full.</summary>
    public static int Pick(int sample, int full) => Full ? full : sample;
}

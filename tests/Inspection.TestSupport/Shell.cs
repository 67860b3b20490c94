using System.Diagnostics;

namespace Inspection.TestSupport;

/// <summary>A system command the tests need done (mount, umount, kill): run to its end, its exit code returned.</summary>
public static class Shell
{
    public static int Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.WaitForExit();
        return process.ExitCode;
    }
}

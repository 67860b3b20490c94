using System.Collections.Concurrent;
using System.Diagnostics;

namespace Inspection.Vision;

/// <summary>
/// Starts child processes (ffmpeg, the worker's model checks) so that they never outlive this process: on Linux
/// each is started through <c>setpriv --pdeathsig KILL</c>, which the kernel fires when the starting thread dies.
/// All starts therefore happen on one dedicated thread that lives as long as the process, never on a pool thread
/// that may retire.
/// </summary>
public static class ChildProcesses
{
    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Result)> Requests = [];
    private static readonly string? SetPriv = FindSetPriv();

    static ChildProcesses()
    {
        var thread = new Thread(Serve) { IsBackground = true, Name = "child-process-starter" };
        thread.Start();
    }

    /// <summary>Starts the process; throws what <see cref="Process.Start(ProcessStartInfo)"/> throws.</summary>
    public static Process Start(ProcessStartInfo start)
    {
        if (SetPriv is not null)
        {
            var wrapped = new ProcessStartInfo(SetPriv)
            {
                RedirectStandardInput = start.RedirectStandardInput,
                RedirectStandardOutput = start.RedirectStandardOutput,
                RedirectStandardError = start.RedirectStandardError,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "--pdeathsig", "KILL", "--", ResolveExecutable(start.FileName) }.Concat(start.ArgumentList))
            {
                wrapped.ArgumentList.Add(arg);
            }

            start = wrapped;
        }

        var result = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((start, result));
        return result.Task.GetAwaiter().GetResult();
    }

    /// <summary>Kills the process and its children and reaps it; quiet if it already exited.</summary>
    public static void Stop(Process process, TimeSpan wait)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit(wait);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
    }

    /// <summary>
    /// The executable's full path, found on PATH as exec would; setpriv runs it by path. Throws
    /// <see cref="FileNotFoundException"/> when it is nowhere, as starting it directly would.
    /// </summary>
    public static string ResolveExecutable(string name)
    {
        if (name.Contains('/'))
        {
            return File.Exists(name) ? name : throw new FileNotFoundException($"'{name}' does not exist.", name);
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"'{name}' is not on the PATH.", name);
    }

    private static void Serve()
    {
        foreach (var (start, result) in Requests.GetConsumingEnumerable())
        {
            try
            {
                result.SetResult(Process.Start(start) ?? throw new InvalidOperationException($"'{start.FileName}' did not start."));
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        }
    }

    private static string? FindSetPriv()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return ResolveExecutable("setpriv");
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }
}

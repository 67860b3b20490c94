using System.Diagnostics;

namespace Inspection.TestSupport;

/// <summary>Runs the built <c>inspection</c> command as a user would, in its own process.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "inspection.dll");
        if (!File.Exists(cli))
        {
            throw new FileNotFoundException("The test project must reference Inspection.Cli so that inspection.dll sits beside it.", cli);
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = SharedData.RepositoryRoot,
        };
        start.ArgumentList.Add(cli);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}

using System.Diagnostics;

namespace Inspection.TestSupport;

/// <summary>Runs the built <c>inspection</c> command as a user would, in its own process.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>
    /// The CLI in its own build output, built in the tests' configuration. Test projects reference Inspection.Cli
    /// with ReferenceOutputAssembly=false: it is built first, and its large native dependencies are not copied.
    /// </summary>
    public static string CliPath
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var cli = Path.Combine(SharedData.RepositoryRoot, "src", "Inspection.Cli", "bin", configuration, "net10.0", "linux-x64", "inspection.dll");
            return File.Exists(cli) ? cli : throw new FileNotFoundException($"The CLI is not built in {configuration}: build the solution first.", cli);
        }
    }

    public static Task<Result> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    /// <summary>Runs the CLI with <paramref name="input"/> on its standard input (a password, a command's JSON).</summary>
    public static async Task<Result> RunWithInputAsync(string? input, params string[] args)
    {
        var cli = CliPath;

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = SharedData.RepositoryRoot,
        };
        start.ArgumentList.Add(cli);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}

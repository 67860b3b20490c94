using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Deploy.Tests;

/// <summary>The options of `inspection retrain`, from the built CLI's --help: what a manifest may pass it.</summary>
internal static partial class RetrainCommandLine
{
    /// <summary>
    /// Options the deployments already pass for features being added beside this work: --metrics-url serves the
    /// trainer's /metrics for Prometheus (scrape target retrain:9401). Each must still be missing from the CLI:
    /// once it lands, the test says to take it off this list.
    /// </summary>
    private static readonly string[] Pending = ["--metrics-url"];

    private static readonly Lazy<Task<HashSet<string>>> Known = new(async () =>
    {
        var help = await CliRunner.RunAsync("retrain", "--help");
        Assert.True(help.ExitCode == 0, $"inspection retrain --help: exit {help.ExitCode}\n{help.Stderr}");
        return [.. OptionName().Matches(help.Stdout).Select(m => m.Value)];
    });

    /// <summary>Every option in <paramref name="arguments"/> (--name or --name=value) that `inspection retrain` does not have.</summary>
    public static async Task<List<string>> UnknownOptionsAsync(IEnumerable<string> arguments)
    {
        var known = await Known.Value;
        foreach (var pending in Pending)
        {
            Assert.False(known.Contains(pending), $"inspection retrain has {pending} now: remove it from RetrainCommandLine.Pending.");
        }

        return [.. arguments.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.Split('=')[0]).Where(o => !known.Contains(o) && !Pending.Contains(o))];
    }

    /// <summary>The value of --<paramref name="option"/>=VALUE in <paramref name="arguments"/>.</summary>
    public static string? Value(IEnumerable<string> arguments, string option) =>
        arguments.FirstOrDefault(a => a.StartsWith(option + "=", StringComparison.Ordinal))?[(option.Length + 1)..];

    [GeneratedRegex("--[a-z0-9][a-z0-9-]*")]
    private static partial Regex OptionName();
}

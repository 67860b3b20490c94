using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Deploy.Tests;

/// <summary>The options of `inspection retrain`, from the built CLI's --help: what a manifest may pass it.</summary>
internal static partial class RetrainCommandLine
{
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
        return [.. arguments.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.Split('=')[0]).Where(o => !known.Contains(o))];
    }

    /// <summary>The value of --<paramref name="option"/>=VALUE in <paramref name="arguments"/>.</summary>
    public static string? Value(IEnumerable<string> arguments, string option) =>
        arguments.FirstOrDefault(a => a.StartsWith(option + "=", StringComparison.Ordinal))?[(option.Length + 1)..];

    [GeneratedRegex("--[a-z0-9][a-z0-9-]*")]
    private static partial Regex OptionName();
}

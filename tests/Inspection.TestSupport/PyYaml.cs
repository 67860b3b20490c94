using System.Diagnostics;
using System.Text.Json;

namespace Inspection.TestSupport;

/// <summary>
/// Reads a data.yaml with Debian's PyYAML (python3-yaml, from tools/install-deps.sh): YAML 1.1, as Ultralytics reads
/// it, where a plain <c>no</c> is false and <c>null</c> is None. A second reader that is not ours.
/// </summary>
public static class PyYaml
{
    /// <summary>The class names in class order; fails when PyYAML cannot read the file or reads a name as anything but a string.</summary>
    public static async Task<List<string>> NamesAsync(string yaml)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
                 {
                     "-c",
                     "import json, sys, yaml\n" +
                     "names = yaml.safe_load(open(sys.argv[1], encoding='utf-8'))['names']\n" +
                     "values = [names[k] for k in sorted(names)] if isinstance(names, dict) else names\n" +
                     "bad = [v for v in values if not isinstance(v, str)]\n" +
                     "sys.exit('not strings: %r' % bad) if bad else print(json.dumps(values))",
                     yaml,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        using var python = Process.Start(start) ?? throw new InvalidOperationException("/usr/bin/python3 did not start (tools/install-deps.sh installs python3-yaml)");
        var output = python.StandardOutput.ReadToEndAsync();
        var error = python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync();
        return python.ExitCode == 0
            ? JsonSerializer.Deserialize<List<string>>(await output)!
            : throw new InvalidDataException($"PyYAML could not read {yaml}: {(await error).Trim()}");
    }

    /// <summary>Class names that a hand-made YAML line gets wrong: separators, comments, quotes, indicators, unicode, YAML 1.1 words.</summary>
    public static IReadOnlyList<string> AwkwardNames { get; } =
    [
        "crack", "scratch: deep", "dent #2", "it's", "\"quoted\"", "-leading dash", "Riß ✓ 缺陷", "no", "yes", "null", "on", "off", "~", "42", "tab\there", "back\\slash", " padded ", "[list]", "{map}", "*star", "&anchor", "!tag", "%percent", "@at", "`tick`", "|pipe", ">fold", "?query",
    ];
}

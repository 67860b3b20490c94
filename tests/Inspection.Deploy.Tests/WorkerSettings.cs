using System.Text;
using System.Text.RegularExpressions;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Configuration;

namespace Inspection.Deploy.Tests;

/// <summary>
/// What a deployment gives the worker (its configuration file and environment), read by the worker's own
/// configuration reader: a renamed or mistyped option, a wrong value, breaks the test as it would the start.
/// </summary>
internal static partial class WorkerSettings
{
    public sealed record Reading(InspectionOptions Options, List<string> Problems);

    /// <param name="providedAtRunTime">
    /// Whether a file or folder the reader misses is there when the container runs (on a mounted volume, a mounted
    /// secret): such a "does not exist" is no problem.
    /// </param>
    public static Reading Read(string configurationJson, IEnumerable<KeyValuePair<string, string>> environment, Func<string, bool> providedAtRunTime)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(configurationJson)))
            .AddInMemoryCollection(environment
                .Where(e => e.Key.StartsWith(InspectionOptions.Section + "__", StringComparison.Ordinal))
                .Select(e => new KeyValuePair<string, string?>(e.Key.Replace("__", ":", StringComparison.Ordinal), e.Value)))
            .Build();
        var (options, problems) = WorkerConfiguration.Read(configuration);
        return new Reading(options, [.. problems.Where(p => !(MissingPath().Match(p) is { Success: true } m && providedAtRunTime(m.Groups["path"].Value)))]);
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or inside it.</summary>
    public static bool IsUnder(string path, string folder) =>
        path == folder || path.StartsWith(folder.TrimEnd('/') + "/", StringComparison.Ordinal);

    [GeneratedRegex("'(?<path>/[^']+)' does not exist")]
    private static partial Regex MissingPath();
}

using System.Globalization;

namespace Inspection.Bench;

internal sealed record BenchOptions(IReadOnlyDictionary<string, string> Values)
{
    /// <summary>The shared data folder: $INSPECTION_SHARED, or ../shared beside the repository.</summary>
    public static string Shared => Environment.GetEnvironmentVariable("INSPECTION_SHARED") is { Length: > 0 } custom
        ? custom
        : Path.GetFullPath(Path.Combine(RepositoryRoot(), "..", "shared"));

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Inspection.sln")))
            {
                return dir.FullName;
            }
        }

        return Environment.CurrentDirectory;
    }

    public static BenchOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        return new BenchOptions(values);
    }

    public string Get(string name, string fallback) => Values.GetValueOrDefault(name, fallback);

    public int GetInt(string name, int fallback) =>
        Values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double GetDouble(string name, double fallback) =>
        Values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

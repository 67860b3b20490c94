using Xunit;

namespace Inspection.TestSupport;

/// <summary>
/// Finds files in the shared data folder beside the repository (../shared). Missing files skip the test on a
/// developer's machine and fail it in CI (CI=true), where the data must be present.
/// </summary>
public static class SharedData
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Root => Environment.GetEnvironmentVariable("INSPECTION_SHARED") is { Length: > 0 } custom
        ? custom
        : Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The full path of a shared file, or a skip (a failure in CI) when it is missing.</summary>
    public static string Require(string relativePath)
    {
        var path = Path.Combine(Root, relativePath);
        if (File.Exists(path) || Directory.Exists(path))
        {
            return path;
        }

        var message = $"Shared file '{relativePath}' is missing under {Root}.";
        if (InCi)
        {
            throw new FileNotFoundException(message + " CI must have the shared data.", path);
        }

        throw new SkipException(message);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Inspection.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Inspection.sln above {AppContext.BaseDirectory}.");
    }
}

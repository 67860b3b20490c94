using Inspection.Core;

namespace Inspection.Models;

/// <summary>
/// Paths a registry's files name (a checkpoint in model.json, the images in golden/expected.json, a version's own
/// files) resolved only inside the folder they belong to. A registry often lives on a shared volume that more
/// people can write than can sign: a name like "../../etc/x", an absolute path or a symbolic link leading out would
/// make the worker or a retraining run read a file nobody registered.
/// </summary>
public static class ContainedPath
{
    private const int MaxLinks = 40; // as the kernel's limit on links followed in one lookup

    /// <summary>
    /// The full path of <paramref name="relative"/> inside <paramref name="folder"/>; throws
    /// <see cref="InspectionInputException"/>, starting with <paramref name="what"/> (who names the path), when it is
    /// absolute, climbs out with "..", or a symbolic link along it (or the file itself) leads outside the folder.
    /// </summary>
    public static string Resolve(string folder, string relative, string what)
    {
        if (relative.Length == 0 || Path.IsPathRooted(relative) || relative.Split('/', '\\').Any(part => part == "..") || relative.Any(char.IsControl))
        {
            throw new InspectionInputException($"{what}: '{relative}' is not a plain relative path inside '{folder}' (it is absolute or has '..'); a registry's files stay inside it.");
        }

        var path = Path.GetFullPath(Path.Combine(folder, relative));
        var realFolder = RealPath(folder);
        var real = RealPath(path);
        if (!real.StartsWith(realFolder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InspectionInputException($"{what}: '{relative}' leads to '{real}' through a symbolic link, outside '{folder}'; a registry's files stay inside it.");
        }

        return path;
    }

    /// <summary>
    /// <paramref name="path"/> with every symbolic link along it followed, as opening it would; the parts that do not
    /// exist are kept as they are.
    /// </summary>
    private static string RealPath(string path, int links = 0)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var resolved = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(resolved, part);
            if (new FileInfo(next).LinkTarget is { } target)
            {
                if (++links > MaxLinks)
                {
                    throw new InspectionInputException($"'{path}' has more than {MaxLinks} symbolic links along it (a loop?).");
                }

                next = RealPath(Path.Combine(resolved, target), links);
            }

            resolved = next;
        }

        return resolved;
    }
}

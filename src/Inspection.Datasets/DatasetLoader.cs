using System.Globalization;
using Inspection.Core;
using YamlDotNet.Serialization;

namespace Inspection.Datasets;

/// <summary>
/// Loads a detection dataset from an Ultralytics data.yaml (YOLO txt labels; image folders, split lists or
/// lists of them), a Pascal VOC folder (annotations/*.xml, images/, splits/*.txt) or a plain folder of images
/// with YOLO labels. Nothing in the data stops it: each quirk becomes a <see cref="DatasetProblem"/> naming
/// the file, and the loader skips or repairs what it must.
/// </summary>
public static class DatasetLoader
{
    private static readonly string[] SplitNames = ["train", "val", "test"];
    private static readonly Dictionary<string, string[]> FolderAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["valid"] = ["val", "validation"],
        ["val"] = ["valid", "validation"],
        ["validation"] = ["val", "valid"],
        ["test"] = ["testing"],
    };

    /// <param name="path">A data.yaml, or a folder holding one, a VOC layout, or images with labels.</param>
    /// <param name="verifyImages">Decode every image to find corrupt ones (slower).</param>
    /// <param name="progress">Told after each file read.</param>
    public static Dataset Load(string path, bool verifyImages = true, Action<DatasetLoadProgress>? progress = null)
    {
        var problems = new List<DatasetProblem>();
        var full = Path.GetFullPath(path);
        if (File.Exists(full) && Path.GetExtension(full) is ".yaml" or ".yml")
        {
            return LoadYaml(full, verifyImages, problems, progress);
        }

        if (!Directory.Exists(full))
        {
            throw new InspectionInputException($"Dataset '{path}' does not exist; give a data.yaml or a dataset folder.");
        }

        var yaml = new[] { "data.yaml", "data.yml", "dataset.yaml" }.Select(f => Path.Combine(full, f)).FirstOrDefault(File.Exists);
        if (yaml is not null)
        {
            return LoadYaml(yaml, verifyImages, problems, progress);
        }

        if (Directory.Exists(Path.Combine(full, "annotations")) && Directory.EnumerateFiles(Path.Combine(full, "annotations"), "*.xml").Any())
        {
            return VocLoader.Load(full, verifyImages, problems, progress);
        }

        return LoadFolder(full, verifyImages, problems, progress);
    }

    /// <summary>The files in order, telling <paramref name="progress"/> after each one the caller has read.</summary>
    internal static IEnumerable<string> Reporting(IReadOnlyList<string> files, string part, Action<DatasetLoadProgress>? progress)
    {
        for (var i = 0; i < files.Count; i++)
        {
            yield return files[i];
            progress?.Invoke(new DatasetLoadProgress(part, i + 1, files.Count, files[i]));
        }
    }

    /// <summary>The class names a data.yaml declares, without loading its images (what a dataset derived from it must keep).</summary>
    public static IReadOnlyList<string> ClassNames(string yamlPath) => ReadNames(ParseYaml(yamlPath), yamlPath, []);

    private static Dictionary<string, object?> ParseYaml(string yamlPath)
    {
        try
        {
            return new DeserializerBuilder().Build().Deserialize<Dictionary<string, object?>>(File.ReadAllText(yamlPath)) ?? [];
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new InspectionInputException($"'{yamlPath}' is not valid YAML: {e.Message}");
        }
    }

    private static Dataset LoadYaml(string yamlPath, bool verifyImages, List<DatasetProblem> problems, Action<DatasetLoadProgress>? progress)
    {
        var data = ParseYaml(yamlPath);
        var names = ReadNames(data, yamlPath, problems);
        var root = Path.GetDirectoryName(yamlPath)!;
        if (data.TryGetValue("path", out var rootValue) && rootValue is string declared && declared.Length > 0)
        {
            var candidate = Path.GetFullPath(Path.Combine(root, declared));
            if (Directory.Exists(candidate))
            {
                root = candidate;
            }
            else
            {
                problems.Add(new(ProblemSeverity.Warning, "missing-folder", yamlPath, $"'path: {declared}' does not exist here; the splits are read relative to the data.yaml's folder instead"));
            }
        }

        var labels = new LabelReader(names.Count, problems);
        var splits = new Dictionary<string, DatasetSplit>();
        foreach (var split in SplitNames)
        {
            if (!data.TryGetValue(split, out var value) || value is null)
            {
                continue;
            }

            var entries = value is List<object> list ? list.Select(v => v?.ToString() ?? string.Empty).ToList() : [value.ToString() ?? string.Empty];
            var images = new List<string>();
            foreach (var entry in entries.Where(e => e.Length > 0))
            {
                images.AddRange(ImagesOf(root, entry, split, yamlPath, problems));
            }

            splits[split] = new DatasetSplit(split, labels.ReadAll(Reporting(images, split, progress), verifyImages));
        }

        labels.ReportOrphans();
        CheckUsable(names, splits, yamlPath, problems);
        return new Dataset { Source = yamlPath, Format = "yolo", Names = names, Splits = splits, Problems = problems };
    }

    private static Dataset LoadFolder(string folder, bool verifyImages, List<DatasetProblem> problems, Action<DatasetLoadProgress>? progress)
    {
        var namesFile = new[] { "classes.txt", "names.txt" }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);
        var names = namesFile is null ? [] : File.ReadAllLines(namesFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var splits = new Dictionary<string, DatasetSplit>();
        var labels = new LabelReader(names.Count == 0 ? int.MaxValue : names.Count, problems);
        foreach (var split in SplitNames.Where(s => Directory.Exists(Path.Combine(folder, s))))
        {
            splits[split] = new DatasetSplit(split, labels.ReadAll(Reporting(ImagesIn(Path.Combine(folder, split)), split, progress), verifyImages));
        }

        if (splits.Count == 0)
        {
            splits["train"] = new DatasetSplit("train", labels.ReadAll(Reporting(ImagesIn(folder), "train", progress), verifyImages));
        }

        labels.ReportOrphans();
        if (names.Count == 0)
        {
            var classes = splits.Values.SelectMany(s => s.Images).SelectMany(i => i.Boxes).Select(b => b.ClassId).DefaultIfEmpty(-1).Max() + 1;
            names = Enumerable.Range(0, classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
            problems.Add(new(ProblemSeverity.Note, "no-class-names", folder, $"no data.yaml or classes.txt: the {classes} classes are named by their numbers"));
        }

        CheckUsable(names, splits, folder, problems);
        return new Dataset { Source = folder, Format = "yolo-folder", Names = names, Splits = splits, Problems = problems };
    }

    private static List<string> ReadNames(Dictionary<string, object?> data, string yamlPath, List<DatasetProblem> problems)
    {
        var names = data.GetValueOrDefault("names") switch
        {
            List<object> list => list.Select(n => n?.ToString() ?? string.Empty).ToList(),
            Dictionary<object, object> map => map.OrderBy(kv => int.Parse(kv.Key.ToString()!, CultureInfo.InvariantCulture)).Select(kv => kv.Value?.ToString() ?? string.Empty).ToList(),
            _ => [],
        };
        if (data.GetValueOrDefault("nc") is { } ncValue && int.TryParse(ncValue.ToString(), out var nc) && nc != names.Count)
        {
            problems.Add(new(ProblemSeverity.Warning, "class-count", yamlPath, $"'nc: {nc}' disagrees with the {names.Count} names; the names win"));
        }

        return names;
    }

    /// <summary>The images an entry of a data.yaml split names: a folder, a list file, or one image.</summary>
    private static IEnumerable<string> ImagesOf(string root, string entry, string split, string yamlPath, List<DatasetProblem> problems)
    {
        var path = Path.GetFullPath(Path.Combine(root, entry));
        if (!Exists(path) && entry.StartsWith("../", StringComparison.Ordinal))
        {
            path = Path.GetFullPath(Path.Combine(root, entry[3..])); // Ultralytics reads '../x' as 'x' beside data.yaml
        }

        if (!Exists(path))
        {
            var alias = Alias(root, entry.StartsWith("../", StringComparison.Ordinal) ? entry[3..] : entry);
            if (alias is null)
            {
                problems.Add(new(ProblemSeverity.Error, "missing-folder", yamlPath, $"'{split}: {entry}' does not exist; fix the path in data.yaml"));
                return [];
            }

            problems.Add(new(ProblemSeverity.Warning, "missing-folder", yamlPath,
                $"'{split}: {entry}' does not exist; '{Path.GetRelativePath(root, alias)}' does and was used instead: fix the path in data.yaml"));
            path = alias;
        }

        if (Directory.Exists(path))
        {
            return ImagesIn(path);
        }

        return Path.GetExtension(path).Equals(".txt", StringComparison.OrdinalIgnoreCase) ? ImagesListedIn(path, problems) : [path];
    }

    /// <summary>A folder named by a common alias of the missing one ('valid' for 'val' and back).</summary>
    private static string? Alias(string root, string entry)
    {
        var parts = entry.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            foreach (var other in FolderAliases.GetValueOrDefault(parts[i]) ?? [])
            {
                var candidate = Path.GetFullPath(Path.Combine([root, .. parts[..i], other, .. parts[(i + 1)..]]));
                if (Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>The images in a list file; paths from another machine are found by their tail under the list's folder.</summary>
    internal static List<string> ImagesListedIn(string listFile, List<DatasetProblem> problems)
    {
        var folder = Path.GetDirectoryName(listFile)!;
        var images = new List<string>();
        var relocated = 0;
        var missing = new List<string>();
        foreach (var line in File.ReadLines(listFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            // Relative entries are relative to the list's folder or, as in most split folders, to the dataset above it.
            var path = Path.IsPathRooted(line)
                ? line
                : new[] { folder, Path.GetDirectoryName(folder) ?? folder }.Select(f => Path.GetFullPath(Path.Combine(f, line))).FirstOrDefault(File.Exists) ?? line;
            if (File.Exists(path))
            {
                images.Add(path);
                continue;
            }

            var parts = line.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
            var found = Enumerable.Range(1, parts.Length - 1).Select(i => Path.Combine([folder, .. parts[i..]])).FirstOrDefault(File.Exists);
            if (found is null)
            {
                missing.Add(line);
            }
            else
            {
                images.Add(found);
                relocated++;
            }
        }

        if (relocated > 0)
        {
            problems.Add(new(ProblemSeverity.Note, "relocated-paths", listFile, $"{relocated} listed paths do not exist as written (another machine's?) and were found under {folder}"));
        }

        foreach (var path in missing)
        {
            problems.Add(new(ProblemSeverity.Warning, "missing-image", listFile, $"lists '{path}', which does not exist; skipped"));
        }

        return images;
    }

    internal static List<string> ImagesIn(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .Where(f => MediaFiles.IsImage(f) && !Path.GetFileName(f).StartsWith("._", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal)
        .ToList();

    private static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    internal static void CheckUsable(List<string> names, Dictionary<string, DatasetSplit> splits, string source, List<DatasetProblem> problems)
    {
        if (names.Count == 0)
        {
            problems.Add(new(ProblemSeverity.Error, "no-class-names", source, "no class names: add 'names' to data.yaml"));
        }

        if (!splits.TryGetValue("train", out var train) || train.Images.Count == 0)
        {
            problems.Add(new(ProblemSeverity.Error, "no-training-images", source, "no training images were found"));
        }
    }
}

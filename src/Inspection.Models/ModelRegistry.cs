using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Models;

/// <summary>
/// One registered version: its folder and card. Every file path it gives is checked to stay inside the version's
/// folder (<see cref="ContainedPath"/>), so a card or a link cannot point the reader at a file elsewhere.
/// </summary>
public sealed record RegisteredModel(string Folder, ModelCard Card)
{
    public const string ModelFile = "model.onnx";
    public const string CardFile = "model.json";
    public const string GoldenFolder = "golden";

    /// <summary>The names the registry gives a version's own files, which a checkpoint may not take.</summary>
    public static readonly IReadOnlySet<string> ReservedNames = new HashSet<string>([ModelFile, CardFile, GoldenFolder, ModelSignature.FileName], StringComparer.OrdinalIgnoreCase);

    public string Name => Card.Name;

    public int Version => Card.Version;

    public string ModelPath => ContainedPath.Resolve(Folder, ModelFile, $"{Name} version {Version}");

    public string? CheckpointPath => Card.Checkpoint is { } checkpoint ? ContainedPath.Resolve(Folder, checkpoint, $"{Name} version {Version}: {CardFile} names a checkpoint") : null;

    public string GoldenPath => ContainedPath.Resolve(Folder, GoldenFolder, $"{Name} version {Version}");

    public bool HasGoldenSet => File.Exists(Path.Combine(GoldenPath, GoldenSet.ExpectedFile));

    /// <summary>Throws <see cref="InspectionInputException"/> unless model.onnx still has the SHA-256 it was registered with.</summary>
    public void VerifySha256()
    {
        var actual = ModelRegistry.Sha256Of(ModelPath);
        if (!string.Equals(actual, Card.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw Changed(actual, Card.Sha256);
        }
    }

    /// <summary>
    /// Copies model.onnx to <paramref name="target"/> (a new file, readable by this user only) and checks the copy's
    /// SHA-256 against <paramref name="sha256"/>: what is loaded from the copy afterwards is exactly what was
    /// checked, even if someone changes the registry's file in the meantime. Throws
    /// <see cref="InspectionInputException"/> (and leaves no copy) when the hash differs.
    /// </summary>
    public void CopyModel(string target, string sha256)
    {
        string actual;
        using (var source = File.OpenRead(ModelPath))
        using (var copy = OwnerOnlyFile.Create(target))
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            var buffer = new byte[1 << 20];
            for (int read; (read = source.Read(buffer)) > 0;)
            {
                hash.AppendData(buffer, 0, read);
                copy.Write(buffer, 0, read);
            }

            actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(target);
            throw Changed(actual, sha256);
        }
    }

    private InspectionInputException Changed(string actual, string expected) =>
        new($"{Name} version {Version}: model.onnx has SHA-256 {actual[..12]}…, its card says {expected[..Math.Min(12, expected.Length)]}…; the file changed after it was registered.");
}

/// <summary>Which version serves, and the versions that served before it (for rollback): NAME/current.json.</summary>
public sealed record CurrentPointer(int Version, IReadOnlyList<int> Previous, DateTimeOffset Changed, string Reason);

/// <summary>
/// A folder of versioned models, local or on a mounted volume: NAME/VERSION/model.onnx + model.json (+ golden/,
/// + a training checkpoint), and NAME/current.json naming the version that serves. Versions are written to a
/// temporary folder and renamed into place, and the pointer is replaced by a rename, so a reader (a worker
/// watching the folder) never sees half a version or half a pointer.
/// </summary>
public sealed class ModelRegistry
{
    public const string CurrentFile = "current.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public ModelRegistry(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    public IReadOnlyList<string> Names => Directory.Exists(Root)
        ? [.. Directory.EnumerateDirectories(Root).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal)]
        : [];

    public string PointerPath(string name) => Path.Combine(NameFolder(name), CurrentFile);

    public IReadOnlyList<RegisteredModel> Versions(string name)
    {
        var folder = NameFolder(name);
        if (!Directory.Exists(folder))
        {
            return [];
        }

        return [.. Directory.EnumerateDirectories(folder)
            .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? (Folder: d, Version: v) : default)
            .Where(d => d.Folder is not null && File.Exists(Path.Combine(d.Folder, RegisteredModel.CardFile)))
            .OrderBy(d => d.Version)
            .Select(d => Read(d.Folder))];
    }

    public RegisteredModel Get(string name, int version)
    {
        var folder = Path.Combine(NameFolder(name), version.ToString(CultureInfo.InvariantCulture));
        if (!File.Exists(Path.Combine(folder, RegisteredModel.CardFile)))
        {
            var known = Versions(name).Select(v => v.Version).ToList();
            throw new InspectionInputException(known.Count == 0
                ? $"The registry {Root} has no model '{name}'."
                : $"'{name}' has no version {version}; it has {string.Join(", ", known)}.");
        }

        return Read(folder);
    }

    public CurrentPointer? Pointer(string name)
    {
        var path = PointerPath(name);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<CurrentPointer>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"'{path}' is not a current-version pointer ({e.Message}); promote a version again to rewrite it.");
        }
    }

    public RegisteredModel? Current(string name) => Pointer(name) is { } pointer ? Get(name, pointer.Version) : null;

    /// <summary>
    /// Registers <paramref name="onnx"/> as the next version of <paramref name="name"/>, with its card (the
    /// version and SHA-256 are filled in here), an optional training checkpoint (file and its .json) and golden
    /// set. Not promoted: the current version stays until <see cref="Promote"/>.
    /// </summary>
    public RegisteredModel Register(string name, string onnx, ModelCard card, string? checkpoint = null, Action<string>? writeGoldenSet = null)
    {
        CheckName(name);
        if (!File.Exists(onnx))
        {
            throw new InspectionInputException($"Model '{onnx}' does not exist.");
        }

        var nameFolder = Directory.CreateDirectory(NameFolder(name)).FullName;
        var staging = Path.Combine(nameFolder, $".staging-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            File.Copy(onnx, Path.Combine(staging, RegisteredModel.ModelFile));
            string? checkpointName = null;
            if (checkpoint is not null)
            {
                checkpointName = Path.GetFileName(checkpoint);
                if (RegisteredModel.ReservedNames.Contains(checkpointName) || RegisteredModel.ReservedNames.Contains(checkpointName + ".json"))
                {
                    throw new InspectionInputException($"The checkpoint '{checkpoint}' is named like one of a version's own files ({string.Join(", ", RegisteredModel.ReservedNames)}); rename it.");
                }

                File.Copy(checkpoint, Path.Combine(staging, checkpointName));
                if (File.Exists(checkpoint + ".json"))
                {
                    File.Copy(checkpoint + ".json", Path.Combine(staging, checkpointName + ".json"));
                }
            }

            writeGoldenSet?.Invoke(Path.Combine(staging, RegisteredModel.GoldenFolder));
            var sha = Sha256Of(Path.Combine(staging, RegisteredModel.ModelFile));
            for (var attempt = 0; ; attempt++)
            {
                var version = Versions(name).Select(v => v.Version).DefaultIfEmpty(0).Max() + 1;
                var complete = card with { Name = name, Version = version, Sha256 = sha, Checkpoint = checkpointName };
                File.WriteAllText(Path.Combine(staging, RegisteredModel.CardFile), JsonSerializer.Serialize(complete, Json));
                var target = Path.Combine(nameFolder, version.ToString(CultureInfo.InvariantCulture));
                try
                {
                    Directory.Move(staging, target); // atomic; fails if another writer took this number first
                    return Read(target);
                }
                catch (IOException) when (attempt < 5 && Directory.Exists(target))
                {
                    // Another registration took this version number: take the next.
                }
            }
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    /// <summary>Makes <paramref name="version"/> the current one; the version it replaces is remembered for rollback.</summary>
    public CurrentPointer Promote(string name, int version, string reason = "promoted")
    {
        var model = Get(name, version);
        model.VerifySha256();
        var before = Pointer(name);
        var previous = before is null ? new List<int>() : [before.Version, .. before.Previous];
        return WritePointer(name, new CurrentPointer(version, [.. previous.Where(v => v != version).Take(20)], DateTimeOffset.UtcNow, reason));
    }

    /// <summary>Goes back to the version that served before the current one.</summary>
    public CurrentPointer Rollback(string name, string reason = "rolled back")
    {
        var pointer = Pointer(name) ?? throw new InspectionInputException($"'{name}' has no current version to roll back from.");
        if (pointer.Previous.Count == 0)
        {
            throw new InspectionInputException($"'{name}' version {pointer.Version} has no earlier version to roll back to.");
        }

        Get(name, pointer.Previous[0]).VerifySha256();
        return WritePointer(name, new CurrentPointer(pointer.Previous[0], [.. pointer.Previous.Skip(1)], DateTimeOffset.UtcNow, reason));
    }

    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private CurrentPointer WritePointer(string name, CurrentPointer pointer)
    {
        var path = PointerPath(name);
        var temporary = path + $".{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(pointer, Json));
        File.Move(temporary, path, overwrite: true); // rename: readers see the old pointer or the new, never half
        return pointer;
    }

    private RegisteredModel Read(string folder)
    {
        var relative = Path.GetRelativePath(Root, folder);
        var path = ContainedPath.Resolve(ContainedPath.Resolve(Root, relative, $"The registry {Root}"), RegisteredModel.CardFile, $"The registry {Root}, '{relative}'");
        try
        {
            return new RegisteredModel(folder, JsonSerializer.Deserialize<ModelCard>(File.ReadAllText(path), Json)
                ?? throw new InspectionInputException($"'{path}' is empty."));
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"'{path}' is not a model card ({e.Message}).");
        }
    }

    private string NameFolder(string name)
    {
        CheckName(name);
        return Path.Combine(Root, name);
    }

    private static void CheckName(string name)
    {
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || name.StartsWith('.'))
        {
            throw new InspectionInputException($"Model name '{name}' must be 1-64 letters, digits, '-', '_' or '.', not starting with '.'.");
        }
    }
}

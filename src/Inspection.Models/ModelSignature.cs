using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Models;

/// <summary>
/// The signature of one registered version (signature.json beside model.json). What is signed is the version's
/// statement: a few lines of UTF-8 text naming the version where the registry keeps it and the SHA-256 of every
/// file the registry reads from it, in <c>sha256sum</c>'s format:
/// <code>
/// inspection-model-signature/1
/// name: crack
/// version: 3
/// 9f2c…  golden/expected.json
/// 41ab…  golden/part.jpg
/// 1c07…  model.json
/// 5e3a…  model.onnx
/// </code>
/// The files are model.onnx, the card model.json, the training checkpoint the card names and its .json, and the
/// golden set (expected.json and the images it names); paths relative to the version's folder with '/', sorted by
/// their UTF-8 bytes, each line ending in '\n'. The name and version come from the folders the version is in, so a
/// signed version copied under another number does not verify. The signature is ECDSA P-256 over SHA-256 of the
/// statement's bytes, DER-encoded as openssl writes it, so a signature can be checked without this program
/// (docs/models.md shows how).
/// </summary>
public static class ModelSignature
{
    public const string FileName = "signature.json";
    public const string Format = "inspection-model-signature/1";
    public const string Algorithm = "ECDSA-P256-SHA256";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private static readonly Comparer<string> ByUtf8 = Comparer<string>.Create((a, b) => Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b)));

    /// <summary>
    /// Signs <paramref name="model"/> with <paramref name="privateKey"/> and writes its signature.json (replacing an
    /// older one, by a rename); returns the files signed (path to SHA-256). Refuses a version whose model.onnx no
    /// longer has the SHA-256 its card records.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Sign(RegisteredModel model, ECDsa privateKey)
    {
        model.VerifySha256();
        var statement = Statement(model);
        var signature = new SignatureFile(Format, Algorithm, SigningKeys.KeyId(privateKey), statement.Text,
            Convert.ToBase64String(privateKey.SignData(statement.Bytes, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)));
        var path = Path.Combine(model.Folder, FileName);
        var temporary = path + $".{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(signature, Json));
        File.Move(temporary, path, overwrite: true);
        return statement.Files;
    }

    /// <summary>
    /// Checks that <paramref name="model"/> is signed by <paramref name="publicKey"/> and unchanged since; returns
    /// the files it verified (path to SHA-256). Throws <see cref="InspectionInputException"/> saying why not: not
    /// signed, signed by another key, or which files changed after signing.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Verify(RegisteredModel model, ECDsa publicKey)
    {
        var who = $"{model.Name} version {model.Version}";
        var signed = Read(model)
            ?? throw new InspectionInputException($"{who} is not signed (no {FileName}); only signed versions serve: sign it with 'inspection models sign'.");
        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(signed.Signature ?? string.Empty);
        }
        catch (FormatException e)
        {
            throw new InspectionInputException($"{who}: {FileName} is not a signature ({e.Message}); sign the version again.");
        }

        if (signed.Format != Format || signed.Algorithm != Algorithm)
        {
            throw new InspectionInputException($"{who}: {FileName} is a {signed.Format} {signed.Algorithm} signature; this worker accepts {Format} {Algorithm}.");
        }

        var keyId = SigningKeys.KeyId(publicKey);
        if (!string.Equals(signed.KeyId, keyId, StringComparison.OrdinalIgnoreCase))
        {
            throw new InspectionInputException($"{who} is signed by another key ({Short(signed.KeyId)}), not by the key given ({Short(keyId)}).");
        }

        var statement = Statement(model);
        if (signed.Statement != statement.Text)
        {
            throw new InspectionInputException($"{who} changed after it was signed: {Differences(signed.Statement ?? string.Empty, statement.Text)}.");
        }

        if (!publicKey.VerifyData(statement.Bytes, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
        {
            throw new InspectionInputException($"{who}: the signature in {FileName} does not verify with key {Short(keyId)} (the signature itself was altered).");
        }

        return statement.Files;
    }

    /// <summary>
    /// <paramref name="model"/>'s signature.json as written, not verified (who signed it and what it says); null when
    /// the version is not signed. Throws <see cref="InspectionInputException"/> when the file is not a signature.
    /// </summary>
    public static SignatureFile? Read(RegisteredModel model)
    {
        var who = $"{model.Name} version {model.Version}";
        var path = ContainedPath.Resolve(model.Folder, FileName, who);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<SignatureFile>(File.ReadAllText(path), Json)
                ?? throw new InspectionInputException($"{who}: {FileName} is empty.");
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"{who}: {FileName} is not a signature ({e.Message}); sign the version again.");
        }
    }

    /// <summary>The statement a signature of <paramref name="model"/> covers, computed from its files now.</summary>
    public static (string Text, byte[] Bytes, IReadOnlyDictionary<string, string> Files) Statement(RegisteredModel model)
    {
        var files = new List<string> { RegisteredModel.ModelFile, RegisteredModel.CardFile };
        if (model.Card.Checkpoint is { } checkpoint)
        {
            files.Add(checkpoint);
            if (File.Exists(model.CheckpointPath + ".json"))
            {
                files.Add(checkpoint + ".json");
            }
        }

        if (model.HasGoldenSet)
        {
            files.Add($"{RegisteredModel.GoldenFolder}/{GoldenSet.ExpectedFile}");
            files.AddRange(GoldenSet.Load(model.GoldenPath).Images.Select(i => $"{RegisteredModel.GoldenFolder}/{i.Image}"));
        }

        var location = Path.GetDirectoryName(Path.GetFullPath(model.Folder))!;
        var text = new StringBuilder()
            .Append(Format).Append('\n')
            .Append("name: ").Append(Path.GetFileName(location)).Append('\n')
            .Append("version: ").Append(Path.GetFileName(Path.GetFullPath(model.Folder))).Append('\n');
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in files.Distinct(StringComparer.Ordinal).Order(ByUtf8))
        {
            var full = ContainedPath.Resolve(model.Folder, file, $"{model.Name} version {model.Version}");
            if (!File.Exists(full))
            {
                throw new InspectionInputException($"{model.Name} version {model.Version}: '{file}' is named by its card or golden set but does not exist.");
            }

            hashes[file] = ModelRegistry.Sha256Of(full);
            text.Append(hashes[file]).Append("  ").Append(file).Append('\n');
        }

        return (text.ToString(), Encoding.UTF8.GetBytes(text.ToString()), hashes);
    }

    /// <summary>What differs between the signed statement and today's: files added, removed or changed, or where the version is.</summary>
    private static string Differences(string signed, string now)
    {
        // "HASH  path" lines by path; "name: crack" and "version: 3" by their key.
        static Dictionary<string, string> Lines(string statement) => statement.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split("  ", 2) is [{ Length: 64 } hash, var file] ? (Key: file, Value: hash)
                : line.Split(": ", 2) is [var key, var value] ? (Key: key, Value: value)
                : (Key: line, Value: line))
            .DistinctBy(p => p.Key)
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var (before, after) = (Lines(signed), Lines(now));
        var changes = new List<string>();
        foreach (var (key, value) in after)
        {
            if (!before.TryGetValue(key, out var old))
            {
                changes.Add($"{key} was added");
            }
            else if (old != value)
            {
                changes.Add(key is "name" or "version" ? $"it was signed as {key} {old}, it is {key} {value} now" : $"{key} differs");
            }
        }

        changes.AddRange(before.Keys.Where(k => !after.ContainsKey(k)).Select(k => $"{k} was removed"));
        return changes.Count == 0 ? "the statement in signature.json was altered" : string.Join(", ", changes);
    }

    private static string Short(string? keyId) => keyId is { Length: > 16 } ? keyId[..16] + "…" : keyId ?? "none";
}

/// <summary>signature.json: what signed the version, the statement it signed (for reading and diagnosis), and the signature.</summary>
public sealed record SignatureFile(string? Format, string? Algorithm, string? KeyId, string? Statement, string? Signature);

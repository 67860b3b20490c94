using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Inspection.Core;

namespace Inspection.Access;

/// <summary>A secret an operator (or HMI) signs commands with; its id names the signer in audit events.</summary>
public sealed record CommandKey(string Id, Role Role, string Secret)
{
    public byte[] SecretBytes() => Convert.FromBase64String(Secret);
}

/// <summary>
/// The command-signing keys: a JSON file {"keys": [{"id", "role", "secret" (base64, 32 bytes)}]}, readable by its
/// owner only. The worker and each signer hold the keys they need; secrets never appear in logs or command lines.
/// </summary>
public static class CommandKeys
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static IReadOnlyDictionary<string, CommandKey> Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"the command keys file '{path}' does not exist; create a key with 'inspection command keygen --keys {path} --key-id ID --role Operator'");
        }

        Document? document;
        try
        {
            document = JsonSerializer.Deserialize<Document>(File.ReadAllBytes(path), Json);
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"the command keys file '{path}' is not valid: {e.Message}");
        }

        var keys = new Dictionary<string, CommandKey>(StringComparer.Ordinal);
        foreach (var key in document?.Keys ?? throw new InspectionInputException($"the command keys file '{path}' has no \"keys\" list"))
        {
            UsersFile.CheckName(key.Id, path);
            try
            {
                if (key.SecretBytes().Length < 16)
                {
                    throw new InspectionInputException($"key '{key.Id}' in '{path}' is shorter than 16 bytes; make a new one with 'inspection command keygen'");
                }
            }
            catch (FormatException)
            {
                throw new InspectionInputException($"key '{key.Id}' in '{path}' is not base64");
            }

            if (!keys.TryAdd(key.Id, key))
            {
                throw new InspectionInputException($"the command keys file '{path}' names key '{key.Id}' twice");
            }
        }

        return keys;
    }

    /// <summary>Adds a new random 32-byte key to the file (made if missing, owner-only) and returns it.</summary>
    public static CommandKey Generate(string path, string id, Role role)
    {
        UsersFile.CheckName(id, "the key id");
        var keys = File.Exists(path) ? Load(path).Values.ToList() : [];
        if (keys.Any(k => k.Id == id))
        {
            throw new InspectionInputException($"'{path}' already has a key '{id}'; remove it first to replace it");
        }

        var key = new CommandKey(id, role, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        keys.Add(key);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(new Document(keys), Json));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.Move(temporary, path, overwrite: true);
        return key;
    }

    private sealed record Document(List<CommandKey> Keys);
}

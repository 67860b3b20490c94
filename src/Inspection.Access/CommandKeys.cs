using System.Security.Cryptography;
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
    public static IReadOnlyDictionary<string, CommandKey> Load(string path)
    {
        var document = SecretFile.Load<Document>(path, "the command keys file", $"create a key with 'inspection command keygen --keys {path} --key-id ID --role Operator'");
        var keys = new Dictionary<string, CommandKey>(StringComparer.Ordinal);
        foreach (var key in document.Keys ?? throw new InspectionInputException($"the command keys file '{path}' has no \"keys\" list"))
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
        SecretFile.Save(path, new Document(keys));
        return key;
    }

    private sealed record Document(List<CommandKey> Keys);
}

using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Inspection.Core;

namespace Inspection.Access;

/// <summary>
/// The one definition of the line's users and roles: a JSON file {"users": [{"name", "role", "passwordHash"}]}.
/// The embedded broker enforces it; <c>inspection broker passwd</c> and <c>acl</c> turn it into mosquitto's files.
/// </summary>
public static partial class UsersFile
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Reads and checks the file; every mistake is an <see cref="InspectionInputException"/> naming the file.</summary>
    public static IReadOnlyList<AccessUser> Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"the users file '{path}' does not exist; create it with 'inspection broker users add NAME --role ROLE --file {path}'");
        }

        Document? document;
        try
        {
            document = JsonSerializer.Deserialize<Document>(File.ReadAllBytes(path), Json);
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"the users file '{path}' is not valid: {e.Message}");
        }

        var users = document?.Users ?? throw new InspectionInputException($"the users file '{path}' has no \"users\" list");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var user in users)
        {
            CheckName(user.Name, path);
            if (!seen.Add(user.Name))
            {
                throw new InspectionInputException($"the users file '{path}' names user '{user.Name}' twice");
            }

            if (user.PasswordHash is { } hash)
            {
                PasswordHash.Parse(hash);
            }
        }

        return users;
    }

    public static void Save(string path, IEnumerable<AccessUser> users)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(new Document([.. users.OrderBy(u => u.Name, StringComparer.Ordinal)]), Json));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite); // hashes are secrets too
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>User names are what MQTT clients log in with and what ACL sections name: letters, digits, '-', '_', '.'.</summary>
    public static void CheckName(string name, string where)
    {
        if (!NamePattern().IsMatch(name))
        {
            throw new InspectionInputException($"'{name}' in {where} is not a user name: 1-64 letters, digits, '-', '_' or '.'");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex NamePattern();

    private sealed record Document(List<AccessUser> Users);
}

using System.Text.RegularExpressions;
using Inspection.Core;

namespace Inspection.Access;

/// <summary>
/// The one definition of the line's users and roles: a JSON file {"users": [{"name", "role", "passwordHash"}]}.
/// The embedded broker enforces it; <c>inspection broker passwd</c> and <c>acl</c> turn it into mosquitto's files.
/// </summary>
public static partial class UsersFile
{
    /// <summary>Reads and checks the file; every mistake is an <see cref="InspectionInputException"/> naming the file.</summary>
    public static IReadOnlyList<AccessUser> Load(string path)
    {
        var document = SecretFile.Load<Document>(path, "the users file", $"create it with 'inspection broker users add NAME --role ROLE --file {path}'");
        var users = document.Users ?? throw new InspectionInputException($"the users file '{path}' has no \"users\" list");
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

    public static void Save(string path, IEnumerable<AccessUser> users) =>
        SecretFile.Save(path, new Document([.. users.OrderBy(u => u.Name, StringComparer.Ordinal)])); // hashes are secrets too

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

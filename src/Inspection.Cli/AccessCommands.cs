using System.CommandLine;
using System.Text;
using Inspection.Access;
using Inspection.Core;

namespace Inspection.Cli;

/// <summary>
/// <c>inspection broker users add|remove|list</c>, <c>broker passwd</c>, <c>broker acl</c>: one users file, the
/// embedded broker's and mosquitto's; <c>inspection command keygen|sign</c>: signed commands for brokers without ACLs.
/// Passwords and secrets are read from standard input or files, never from the command line.
/// </summary>
internal static class AccessCommands
{
    private const int MinimumPasswordLength = 8;

    public static Command Broker()
    {
        var file = new Option<string>("--file") { Description = "The users file (JSON) the worker's Inspection:Access:UsersFile names.", Required = true };
        var userName = new Argument<string>("name") { Description = "The user's name: what its MQTT client logs in with." };
        var role = new Option<Role>("--role") { Description = "Worker, Plc, Operator or Scada.", Required = true };

        var add = new Command("add", "Add a user, or set a user's role and password; the password is read from standard input.") { userName, role, file };
        add.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            var name = parse.GetValue(userName)!;
            UsersFile.CheckName(name, "the command line");
            var password = ReadSecret($"Password for {name}: ");
            if (password.Length < MinimumPasswordLength)
            {
                throw new InspectionInputException($"the password is shorter than {MinimumPasswordLength} characters");
            }

            var users = File.Exists(path) ? UsersFile.Load(path).Where(u => u.Name != name).ToList() : [];
            users.Add(new AccessUser(name, parse.GetValue(role), PasswordHash.Create(password)));
            UsersFile.Save(path, users);
            Console.WriteLine($"{name} ({parse.GetValue(role)}) is in {path}; {users.Count} users.");
            return ExitCodes.Success;
        });

        var remove = new Command("remove", "Remove a user.") { userName, file };
        remove.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            var users = UsersFile.Load(path).ToList();
            if (users.RemoveAll(u => u.Name == parse.GetValue(userName)) == 0)
            {
                throw new InspectionInputException($"'{parse.GetValue(userName)}' is not in {path}");
            }

            UsersFile.Save(path, users);
            return ExitCodes.Success;
        });

        var list = new Command("list", "The users and their roles.") { file };
        list.SetAction(parse =>
        {
            foreach (var user in UsersFile.Load(parse.GetValue(file)!))
            {
                Console.WriteLine($"{user.Name,-24} {user.Role,-9} {(user.PasswordHash is null ? "no password: cannot log in" : "password set")}");
            }

            return ExitCodes.Success;
        });

        var users = new Option<string>("--users") { Description = "The users file.", Required = true };
        var output = new Option<string>("--out") { Description = "The file to write.", Required = true };
        var passwd = new Command("passwd", "Write mosquitto's password file (password_file) from the users file.") { users, output };
        passwd.SetAction(parse =>
        {
            var text = new StringBuilder();
            foreach (var user in UsersFile.Load(parse.GetValue(users)!).Where(u => u.PasswordHash is not null))
            {
                text.Append(user.Name).Append(':').Append(user.PasswordHash).Append('\n');
            }

            WriteOwnerOnly(parse.GetValue(output)!, text.ToString());
            return ExitCodes.Success;
        });

        var prefix = new Option<string>("--prefix") { Description = "The topic prefix (Inspection:Mqtt:TopicPrefix).", DefaultValueFactory = _ => "inspection" };
        var site = new Option<string>("--site") { Description = "Inspection:Mqtt:Site.", Required = true };
        var line = new Option<string>("--line") { Description = "Inspection:Mqtt:Line.", Required = true };
        var group = new Option<string?>("--sparkplug-group") { Description = "Inspection:Sparkplug:GroupId, when Sparkplug is on." };
        var acl = new Command("acl", "Write mosquitto's ACL file (acl_file): what each user may publish and read, by role.") { users, prefix, site, line, group, output };
        acl.SetAction(parse =>
        {
            var rules = new TopicRules($"{parse.GetValue(prefix)!.TrimEnd('/')}/{parse.GetValue(site)}/{parse.GetValue(line)}", parse.GetValue(group));
            File.WriteAllText(parse.GetValue(output)!, rules.WriteMosquittoAcl(UsersFile.Load(parse.GetValue(users)!)));
            return ExitCodes.Success;
        });

        return new Command("broker", "Users, roles and the files a mosquitto needs for them.")
        {
            new Command("users", "The users file: who may use the line's broker, in which role.") { add, remove, list },
            passwd,
            acl,
        };
    }

    public static Command Signing()
    {
        var keys = new Option<string>("--keys") { Description = "The command keys file (Inspection:Access:CommandKeysFile).", Required = true };
        var keyId = new Option<string>("--key-id") { Description = "The key's id: it names the signer in audit events.", Required = true };
        var role = new Option<Role>("--role") { Description = "The signer's role: Operator to steer, Plc or Scada to read.", DefaultValueFactory = _ => Role.Operator };
        var keygen = new Command("keygen", "Add a new random key to the keys file (readable by its owner only).") { keys, keyId, role };
        keygen.SetAction(parse =>
        {
            var key = CommandKeys.Generate(parse.GetValue(keys)!, parse.GetValue(keyId)!, parse.GetValue(role));
            Console.WriteLine($"Key '{key.Id}' ({key.Role}) added to {parse.GetValue(keys)}; give the worker and the signer that file.");
            return ExitCodes.Success;
        });

        var topic = new Option<string>("--topic") { Description = "The command's topic, e.g. inspection/site/line/cam1/cmd/set-thresholds.", Required = true };
        var payload = new Option<string>("--payload") { Description = "The command's JSON; read from standard input when left out.", };
        var sign = new Command("sign", "Print the signed envelope of a command, to publish on its topic within the worker's signature window.") { keys, keyId, topic, payload };
        sign.SetAction(parse =>
        {
            var all = CommandKeys.Load(parse.GetValue(keys)!);
            if (!all.TryGetValue(parse.GetValue(keyId)!, out var key))
            {
                throw new InspectionInputException($"{parse.GetValue(keys)} has no key '{parse.GetValue(keyId)}'");
            }

            var command = parse.GetValue(payload) ?? Console.In.ReadToEnd().Trim();
            Console.WriteLine(Encoding.UTF8.GetString(SignedCommand.Sign(key, parse.GetValue(topic)!, command, DateTimeOffset.UtcNow)));
            return ExitCodes.Success;
        });

        return new Command("command", "Signed commands, for brokers that cannot restrict who publishes them.") { keygen, sign };
    }

    /// <summary>A line from standard input; at a terminal, typed without echo.</summary>
    private static string ReadSecret(string prompt)
    {
        if (!Console.IsInputRedirected)
        {
            Console.Error.Write(prompt);
            var typed = new StringBuilder();
            for (var key = Console.ReadKey(intercept: true); key.Key != ConsoleKey.Enter; key = Console.ReadKey(intercept: true))
            {
                if (key.Key == ConsoleKey.Backspace && typed.Length > 0)
                {
                    typed.Length--;
                }
                else if (!char.IsControl(key.KeyChar))
                {
                    typed.Append(key.KeyChar);
                }
            }

            Console.Error.WriteLine();
            return typed.ToString();
        }

        return Console.In.ReadLine() ?? throw new InspectionInputException("no password on standard input");
    }

    /// <summary>A password file replaces the old one whole, readable by its owner only from its creation.</summary>
    private static void WriteOwnerOnly(string path, string text)
    {
        File.Delete(path);
        using var file = new StreamWriter(OwnerOnlyFile.Create(path));
        file.Write(text);
    }
}

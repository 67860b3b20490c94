using System.Runtime.Versioning;
using System.Security.Cryptography;
using Inspection.TestSupport;

namespace Inspection.Cli.Tests;

/// <summary><c>inspection models keygen|sign|verify</c> as a user runs them, on the bundled demo model.</summary>
public sealed class ModelSigningTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static string DemoModel => Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/workpiece-crack-yolov8n-320.onnx");

    [Fact]
    [SupportedOSPlatform("linux")] // file modes
    public async Task A_signed_version_verifies_and_unsigned_foreign_or_edited_ones_exit_2_with_the_reason()
    {
        var keygen = await CliRunner.RunAsync("models", "keygen", "--out", _folder.File("keys"));
        Assert.True(keygen.ExitCode == 0, keygen.Stderr);
        var privateKey = _folder.File("keys/model-signing.key.pem");
        var publicKey = _folder.File("keys/model-signing.pub.pem");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privateKey));
        Assert.DoesNotContain("PRIVATE KEY", keygen.Stdout + keygen.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(File.ReadAllLines(privateKey)[1], keygen.Stdout + keygen.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await CliRunner.RunAsync("models", "keygen", "--out", _folder.File("other-keys"))).ExitCode);

        var registry = _folder.File("registry");
        var golden = Directory.GetFiles(Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo"), "*.jpg").Order(StringComparer.Ordinal).First();
        for (var i = 0; i < 3; i++)
        {
            var registered = await CliRunner.RunAsync("models", "register", "--registry", registry, "--name", "crack", "--model", DemoModel, "--golden", golden);
            Assert.True(registered.ExitCode == 0, registered.Stderr);
        }

        var signed = await Models("sign", 1, privateKey);
        Assert.True(signed.ExitCode == 0, signed.Stderr);
        Assert.Contains("crack version 1: signed by key", signed.Stdout);
        Assert.Equal(0, (await Models("sign", 3, privateKey)).ExitCode);
        Assert.Equal(0, (await Models("sign", 2, _folder.File("other-keys/model-signing.key.pem"))).ExitCode);
        File.WriteAllText(Path.Combine(registry, "crack/3/model.json"), File.ReadAllText(Path.Combine(registry, "crack/3/model.json")).Replace("\"imageSize\": 320", "\"imageSize\": 321", StringComparison.Ordinal));

        var valid = await Models("verify", 1, publicKey);
        Assert.True(valid.ExitCode == 0, valid.Stderr);
        Assert.Matches("^crack version 1: signature valid, key [0-9a-f]{64}, 4 files unchanged\\.\n$", valid.Stdout);

        await Refused(Models("verify", 2, publicKey), "is signed by another key");
        await Refused(Models("verify", 3, publicKey), "changed after it was signed: model.json differs");
        Assert.Equal(0, (await CliRunner.RunAsync("models", "register", "--registry", registry, "--name", "crack", "--model", DemoModel)).ExitCode);
        await Refused(Models("verify", 4, publicKey), "is not signed");
    }

    [Fact]
    public async Task Key_files_that_are_missing_not_keys_or_on_another_curve_are_one_line_and_exit_2()
    {
        var registry = _folder.File("registry");
        Assert.Equal(0, (await CliRunner.RunAsync("models", "register", "--registry", registry, "--name", "crack", "--model", DemoModel)).ExitCode);
        File.WriteAllText(_folder.File("notes.pem"), "my signing key is in the safe\n");
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        File.WriteAllText(_folder.File("p384.key.pem"), p384.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(_folder.File("p384.pub.pem"), p384.ExportSubjectPublicKeyInfoPem());
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(_folder.File("p256.pub.pem"), p256.ExportSubjectPublicKeyInfoPem());

        await Refused(Models("sign", 1, _folder.File("missing.pem")), "does not exist");
        await Refused(Models("sign", 1, _folder.File("notes.pem")), "is not a PEM key file");
        await Refused(Models("sign", 1, _folder.File("p384.key.pem")), "on P-256");
        await Refused(Models("verify", 1, _folder.File("p384.pub.pem")), "on P-256");
        await Refused(Models("verify", 1, _folder.File("missing.pem")), "does not exist");
        await Refused(Models("sign", 1, _folder.File("p256.pub.pem")), "is a public key");
    }

    private Task<CliRunner.Result> Models(string command, int version, string key) =>
        CliRunner.RunAsync("models", command, "--registry", _folder.File("registry"), "--name", "crack", "--version", version.ToString(System.Globalization.CultureInfo.InvariantCulture), "--key", key);

    private static async Task Refused(Task<CliRunner.Result> run, string reason)
    {
        var result = await run;
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(reason, result.Stderr);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty(result.Stdout);
    }
}

using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.TestSupport;

namespace Inspection.Models.Tests;

/// <summary>Signed versions: what is signed, and each way a version fails to verify, with its reason.</summary>
public sealed class SignatureTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly ModelRegistry _registry;
    private readonly ECDsa _key;
    private readonly ECDsa _publicKey;

    public SignatureTests()
    {
        _registry = new ModelRegistry(_folder.File("registry"));
        var (privatePath, publicPath, _) = SigningKeys.Generate(_folder.File("keys"));
        _key = SigningKeys.LoadPrivateKey(privatePath);
        _publicKey = SigningKeys.LoadPublicKey(publicPath);
    }

    public void Dispose()
    {
        _key.Dispose();
        _publicKey.Dispose();
        _folder.Dispose();
    }

    [Fact]
    public void The_statement_lists_every_file_the_registry_reads_with_its_sha256_and_the_signature_verifies()
    {
        var version = Register();
        var signed = ModelSignature.Sign(version, _key);

        Assert.Equal(["best.weights", "best.weights.json", "golden/expected.json", "golden/part.jpg", "model.json", "model.onnx"], signed.Keys.Order(StringComparer.Ordinal));
        var statement = ModelSignature.Statement(version).Text;
        Assert.StartsWith("inspection-model-signature/1\nname: crack\nversion: 1\n", statement);
        Assert.Contains($"{ModelRegistry.Sha256Of(version.ModelPath)}  model.onnx\n", statement);
        Assert.Equal(signed, ModelSignature.Verify(version, _publicKey));
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(version.Folder, ModelSignature.FileName)))!;
        Assert.Equal(SigningKeys.KeyId(_publicKey), file["keyId"]!.GetValue<string>());
        Assert.Equal(statement, file["statement"]!.GetValue<string>());
        Assert.DoesNotContain("PRIVATE", File.ReadAllText(Path.Combine(version.Folder, ModelSignature.FileName)), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsigned_version_and_one_signed_by_another_key_are_refused()
    {
        var version = Register();
        Assert.Contains("crack version 1 is not signed", Refusal(version));

        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        ModelSignature.Sign(version, other);
        Assert.Contains("is signed by another key", Refusal(version));
    }

    [Fact]
    public void Each_file_changed_after_signing_is_named()
    {
        var version = Register();
        ModelSignature.Sign(version, _key);

        var card = Path.Combine(version.Folder, RegisteredModel.CardFile);
        var original = File.ReadAllText(card);
        File.WriteAllText(card, original.Replace("\"imageSize\": 320", "\"imageSize\": 640", StringComparison.Ordinal));
        Assert.Contains("crack version 1 changed after it was signed: model.json differs", Refusal(version));
        File.WriteAllText(card, original);

        File.AppendAllText(Path.Combine(version.GoldenPath, "part.jpg"), "x");
        Assert.Contains("golden/part.jpg differs", Refusal(version));

        File.AppendAllText(version.CheckpointPath!, "x");
        Assert.Contains("best.weights differs", Refusal(version));

        File.Delete(version.CheckpointPath + ".json");
        Assert.Contains("best.weights.json was removed", Refusal(version));
    }

    [Fact]
    public void A_signed_version_copied_under_another_number_or_a_changed_signature_is_refused()
    {
        var version = Register();
        ModelSignature.Sign(version, _key);
        CopyFolder(version.Folder, Path.Combine(_registry.Root, "crack", "2"));
        Assert.Contains("it was signed as version 1, it is version 2 now", Refusal(_registry.Get("crack", 2)));

        var path = Path.Combine(version.Folder, ModelSignature.FileName);
        var file = JsonNode.Parse(File.ReadAllText(path))!;
        var signature = Convert.FromBase64String(file["signature"]!.GetValue<string>());
        signature[^1] ^= 1;
        file["signature"] = Convert.ToBase64String(signature);
        File.WriteAllText(path, file.ToJsonString());
        Assert.Contains("does not verify", Refusal(version));
    }

    [Fact]
    public void A_version_whose_model_no_longer_matches_its_card_is_not_signed()
    {
        var version = Register();
        File.AppendAllText(version.ModelPath, "x");
        Assert.Contains("SHA-256", Assert.Throws<InspectionInputException>(() => ModelSignature.Sign(version, _key)).Message);
        Assert.False(File.Exists(Path.Combine(version.Folder, ModelSignature.FileName)));
    }

    [Fact]
    [SupportedOSPlatform("linux")] // file modes
    public void Keys_are_written_private_to_their_owner_and_never_overwritten_and_bad_key_files_are_explained()
    {
        var keys = _folder.File("keys");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(keys, SigningKeys.PrivateKeyFile)));
        Assert.Contains("never overwrites", Assert.Throws<InspectionInputException>(() => SigningKeys.Generate(keys)).Message);

        Assert.Contains("does not exist", Assert.Throws<InspectionInputException>(() => SigningKeys.LoadPublicKey(_folder.File("missing.pem"))).Message);
        File.WriteAllText(_folder.File("text.pem"), "not a key");
        Assert.Contains("is not a PEM key file", Assert.Throws<InspectionInputException>(() => SigningKeys.LoadPublicKey(_folder.File("text.pem"))).Message);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        File.WriteAllText(_folder.File("p384.pem"), p384.ExportSubjectPublicKeyInfoPem());
        Assert.Contains("model signing keys are on P-256", Assert.Throws<InspectionInputException>(() => SigningKeys.LoadPublicKey(_folder.File("p384.pem"))).Message);
        using var rsa = RSA.Create(2048);
        File.WriteAllText(_folder.File("rsa.pem"), rsa.ExportPkcs8PrivateKeyPem());
        Assert.Contains("not an ECDSA P-256 key", Assert.Throws<InspectionInputException>(() => SigningKeys.LoadPrivateKey(_folder.File("rsa.pem"))).Message);
        Assert.Contains("is a public key", Assert.Throws<InspectionInputException>(() => SigningKeys.LoadPrivateKey(Path.Combine(keys, SigningKeys.PublicKeyFile))).Message);
        Assert.Contains("is a private key", Assert.Throws<InspectionInputException>(() => SigningKeys.LoadPublicKey(Path.Combine(keys, SigningKeys.PrivateKeyFile))).Message);
    }

    private string Refusal(RegisteredModel version) => Assert.Throws<InspectionInputException>(() => ModelSignature.Verify(version, _publicKey)).Message;

    private RegisteredModel Register()
    {
        var model = _folder.File("m.onnx");
        File.WriteAllText(model, "model");
        var checkpoint = _folder.File("best.weights");
        File.WriteAllText(checkpoint, "weights");
        File.WriteAllText(checkpoint + ".json", "{}");
        var image = _folder.File("part.jpg");
        File.WriteAllBytes(image, [1, 2, 3]);
        var card = new ModelCard { Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
        return _registry.Register("crack", model, card, checkpoint, folder => GoldenSet.Create(folder, [(image, [new GoldenDetection("crack", 0.9f, [1, 2, 3, 4])])]));
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

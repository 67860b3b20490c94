using System.Security.Cryptography;
using Inspection.Core;

namespace Inspection.Models;

/// <summary>
/// The key pair that signs model versions: ECDSA on P-256, the private key as PKCS#8 PEM (written readable by its
/// owner only), the public key as SubjectPublicKeyInfo PEM. Keys are only ever read from files, and nothing here
/// prints or logs key material: a message names the file and what is wrong with it.
/// </summary>
public static class SigningKeys
{
    public const string PrivateKeyFile = "model-signing.key.pem";
    public const string PublicKeyFile = "model-signing.pub.pem";
    private const string P256 = "1.2.840.10045.3.1.7";

    /// <summary>
    /// Writes a new key pair into <paramref name="folder"/>: the private key created with mode 0600 (never readable
    /// by others, not even for a moment), the public key beside it. Never overwrites a key.
    /// </summary>
    public static (string PrivateKeyPath, string PublicKeyPath, string KeyId) Generate(string folder)
    {
        Directory.CreateDirectory(folder);
        var privatePath = Path.Combine(folder, PrivateKeyFile);
        var publicPath = Path.Combine(folder, PublicKeyFile);
        foreach (var path in new[] { privatePath, publicPath }.Where(File.Exists))
        {
            throw new InspectionInputException($"'{path}' exists; keygen never overwrites a key (versions signed with it would no longer verify). Choose another --out folder.");
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using (var writer = new StreamWriter(OwnerOnlyFile.Create(privatePath)))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
        }

        File.WriteAllText(publicPath, key.ExportSubjectPublicKeyInfoPem() + "\n");
        return (privatePath, publicPath, KeyId(key));
    }

    /// <summary>The private key in <paramref name="path"/> (PKCS#8 or SEC1 PEM, P-256), for signing.</summary>
    public static ECDsa LoadPrivateKey(string path) => Load(path, privateKey: true);

    /// <summary>The public key in <paramref name="path"/> (SubjectPublicKeyInfo PEM, P-256), for verifying.</summary>
    public static ECDsa LoadPublicKey(string path) => Load(path, privateKey: false);

    /// <summary>A key's id: the SHA-256 of its public key's SubjectPublicKeyInfo (DER), in hex.</summary>
    public static string KeyId(ECDsa key) => Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    private static ECDsa Load(string path, bool privateKey)
    {
        var wanted = privateKey ? "private key (PKCS#8 PEM, as written by 'inspection models keygen')" : "public key (SubjectPublicKeyInfo PEM, as written by 'inspection models keygen')";
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"The key file '{path}' does not exist; give the {wanted}.");
        }

        var text = File.ReadAllText(path);
        var labels = Labels(text);
        if (labels.Count == 0)
        {
            throw new InspectionInputException($"'{path}' is not a PEM key file; give the {wanted}.");
        }

        if (labels.Contains("ENCRYPTED PRIVATE KEY"))
        {
            throw new InspectionInputException($"'{path}' is an encrypted private key; give it unencrypted (PKCS#8 PEM) from a secret store or an offline machine.");
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(text);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new InspectionInputException($"'{path}' holds {string.Join(", ", labels)}, not an ECDSA P-256 key; give the {wanted}.");
        }

        try
        {
            var parameters = key.ExportParameters(includePrivateParameters: false);
            if (parameters.Curve.Oid?.Value != P256)
            {
                throw new InspectionInputException($"'{path}' is an ECDSA key on curve {parameters.Curve.Oid?.FriendlyName ?? parameters.Curve.Oid?.Value ?? "(explicit parameters)"}; model signing keys are on P-256 (made by 'inspection models keygen').");
            }

            var hasPrivate = labels.Any(l => l is "PRIVATE KEY" or "EC PRIVATE KEY");
            if (privateKey && !hasPrivate)
            {
                throw new InspectionInputException($"'{path}' is a public key; signing needs the {wanted}.");
            }

            if (!privateKey && hasPrivate)
            {
                throw new InspectionInputException($"'{path}' is a private key; verifying needs only the public key ({PublicKeyFile}). Keep the private key with whoever signs.");
            }

            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>The labels of the PEM blocks in <paramref name="text"/> ("PUBLIC KEY", "PRIVATE KEY", ...).</summary>
    private static List<string> Labels(string text)
    {
        var labels = new List<string>();
        var rest = text.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            labels.Add(rest[fields.Label].ToString());
            rest = rest[fields.Location.End..];
        }

        return labels;
    }
}

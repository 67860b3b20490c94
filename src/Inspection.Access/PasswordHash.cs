using System.Security.Cryptography;
using Inspection.Core;

namespace Inspection.Access;

/// <summary>
/// Password hashes in mosquitto's own format ("$7$", PBKDF2-HMAC-SHA512 with a 12-byte salt), so that one users
/// file configures the embedded broker and produces the password file a mosquitto reads.
/// </summary>
public static class PasswordHash
{
    public const int DefaultIterations = 101; // mosquitto_passwd's choice, so the files it writes and ours are alike
    private const int SaltBytes = 12;
    private const int HashBytes = 64;

    public static string Create(string password, int iterations = DefaultIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA512, HashBytes);
        return $"$7${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>True when <paramref name="password"/> matches <paramref name="encoded"/>; compares in constant time.</summary>
    public static bool Verify(string password, string encoded)
    {
        var (iterations, salt, hash) = Parse(encoded);
        var candidate = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA512, hash.Length);
        return CryptographicOperations.FixedTimeEquals(candidate, hash);
    }

    /// <summary>Throws <see cref="InspectionInputException"/> when <paramref name="encoded"/> is not a "$7$" hash.</summary>
    public static (int Iterations, byte[] Salt, byte[] Hash) Parse(string encoded)
    {
        var parts = encoded.Split('$');
        try
        {
            if (parts is ["", "7", var rounds, var salt, var hash] && int.TryParse(rounds, out var iterations) && iterations > 0)
            {
                return (iterations, Convert.FromBase64String(salt), Convert.FromBase64String(hash));
            }
        }
        catch (FormatException)
        {
            // Falls through to the explanation below.
        }

        throw new InspectionInputException("a password hash must be mosquitto's \"$7$iterations$salt$hash\" (PBKDF2-SHA512); make one with 'inspection broker users add'");
    }
}

using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Access;

/// <summary>
/// Commands signed for brokers that cannot restrict who publishes them. A signed command is a JSON envelope
/// {"keyId", "time" (Unix ms), "nonce", "command" (the command's own JSON, as a string), "signature"} whose
/// signature is HMAC-SHA256 with the key's secret over topic, key id, time, nonce and command, one per line: it
/// binds the command to its topic (camera and name) and its moment, and the nonce stops a replay within the window.
/// </summary>
public sealed class SignedCommand(IReadOnlyDictionary<string, CommandKey> keys, TimeSpan window, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);

    /// <summary>The envelope for <paramref name="command"/> on <paramref name="topic"/>, signed with <paramref name="key"/> now.</summary>
    public static byte[] Sign(CommandKey key, string topic, string command, DateTimeOffset time)
    {
        var nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var at = time.ToUnixTimeMilliseconds();
        return JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["keyId"] = key.Id,
            ["time"] = at,
            ["nonce"] = nonce,
            ["command"] = command,
            ["signature"] = Convert.ToBase64String(Mac(key, topic, at, nonce, command)),
        });
    }

    /// <summary>True when <paramref name="payload"/> is an envelope (it has "signature" and "command"), signed or not validly.</summary>
    public static bool IsEnvelope(ReadOnlySpan<byte> payload)
    {
        try
        {
            var reader = new Utf8JsonReader(payload);
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("signature", out _) && document.RootElement.TryGetProperty("command", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// Checks the envelope and returns its key and the command's JSON; throws <see cref="InspectionInputException"/>
    /// saying why it is refused: not an envelope, an unknown key, a wrong signature, outside the time window, replayed.
    /// </summary>
    public (CommandKey Key, byte[] Command) Verify(string topic, ReadOnlySpan<byte> payload)
    {
        string keyId, nonce, command, signature;
        long at;
        try
        {
            var reader = new Utf8JsonReader(payload);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            keyId = root.GetProperty("keyId").GetString()!;
            at = root.GetProperty("time").GetInt64();
            nonce = root.GetProperty("nonce").GetString()!;
            command = root.GetProperty("command").GetString()!;
            signature = root.GetProperty("signature").GetString()!;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InspectionInputException("the command is not signed: send {\"keyId\", \"time\", \"nonce\", \"command\", \"signature\"} (inspection command sign makes one)");
        }

        if (!keys.TryGetValue(keyId, out var key))
        {
            throw new InspectionInputException($"the command is signed with key '{keyId}', which this worker does not know");
        }

        byte[] given;
        try
        {
            given = Convert.FromBase64String(signature);
        }
        catch (FormatException)
        {
            throw new InspectionInputException("the command's signature is not base64");
        }

        if (!CryptographicOperations.FixedTimeEquals(given, Mac(key, topic, at, nonce, command)))
        {
            throw new InspectionInputException($"the command's signature does not match (key '{keyId}')");
        }

        var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (Math.Abs(now - at) > window.TotalMilliseconds)
        {
            throw new InspectionInputException($"the command was signed {Math.Abs(now - at) / 1000.0:0.#} s from now; commands are taken within {window.TotalSeconds:0.#} s (check the clocks)");
        }

        Forget(now);
        if (!_seen.TryAdd(keyId + "/" + nonce, at))
        {
            throw new InspectionInputException("the command was already received once (a replay): sign each command anew");
        }

        return (key, Encoding.UTF8.GetBytes(command));
    }

    /// <summary>Nonces outside the window cannot come back (their time would be refused), so they are let go.</summary>
    private void Forget(long now)
    {
        foreach (var (nonce, at) in _seen)
        {
            if (Math.Abs(now - at) > window.TotalMilliseconds)
            {
                _seen.TryRemove(nonce, out _);
            }
        }
    }

    private static byte[] Mac(CommandKey key, string topic, long at, string nonce, string command) =>
        HMACSHA256.HashData(key.SecretBytes(), Encoding.UTF8.GetBytes($"{topic}\n{key.Id}\n{at}\n{nonce}\n{command}"));
}

using System.ComponentModel.DataAnnotations;
using Inspection.Core;

namespace Inspection.Messaging;

public enum MqttProtocol
{
    /// <summary>MQTT 5: user properties, message expiry, response topics and correlation data.</summary>
    V500,

    /// <summary>MQTT 3.1.1, for older brokers: the same topics and payloads without the MQTT 5 extras.</summary>
    V311,
}

/// <summary>The MQTT connection, topics and store-and-forward queue. Bound from Inspection:Mqtt and validated at start.</summary>
public sealed class MqttOptions
{
    /// <summary>The broker's host name; empty starts the embedded broker on 127.0.0.1 instead.</summary>
    public string? Host { get; set; }

    [Range(1, 65535)]
    public int Port { get; set; } = 1883;

    [Required]
    public string ClientId { get; set; } = "inspection-" + Environment.MachineName.ToLowerInvariant();

    /// <summary>Topics are {TopicPrefix}/{Site}/{Line}/{camera}/result and so on.</summary>
    [Required]
    [RegularExpression("^[^#+\\s]+$", ErrorMessage = "TopicPrefix may not contain '#', '+' or spaces.")]
    public string TopicPrefix { get; set; } = "inspection";

    [Required]
    [RegularExpression("^[^/#+\\s]+$", ErrorMessage = "Site may not contain '/', '#', '+' or spaces.")]
    public string Site { get; set; } = "site";

    [Required]
    [RegularExpression("^[^/#+\\s]+$", ErrorMessage = "Line may not contain '/', '#', '+' or spaces.")]
    public string Line { get; set; } = "line";

    [Range(0, 2)]
    public int QualityOfService { get; set; } = 1;

    public MqttProtocol Protocol { get; set; } = MqttProtocol.V500;

    public string? Username { get; set; }

    /// <summary>Never logged. Prefer <see cref="PasswordFile"/> or the environment variable Inspection__Mqtt__Password.</summary>
    public string? Password { get; set; }

    /// <summary>A file holding the password (a mounted secret); its content wins over <see cref="Password"/>.</summary>
    public string? PasswordFile { get; set; }

    public bool UseTls { get; set; }

    /// <summary>PEM file of the certificate authority that signed the broker's certificate; the system's trust store when empty.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM client certificate and key, for brokers that authenticate clients by certificate.</summary>
    public string? ClientCertificateFile { get; set; }

    public string? ClientKeyFile { get; set; }

    /// <summary>Accept a broker certificate nobody vouches for. For a lab bench only; off by default.</summary>
    public bool AllowUntrustedCertificates { get; set; }

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>MQTT 5 message expiry for results, in seconds; 0 keeps them until delivered.</summary>
    public uint MessageExpirySeconds { get; set; }

    /// <summary>Messages published and not yet acknowledged by the broker at once.</summary>
    [Range(1, 65535)]
    public int MaxInFlight { get; set; } = 256;

    public DiskQueueOptions Queue { get; set; } = new() { Directory = "data/mqtt-queue" };

    /// <summary>
    /// Publish results and camera states as JSON (docs/mqtt.md). False when another output (Sparkplug B) carries
    /// them instead; triggers, commands, their replies and service events still use this session.
    /// </summary>
    public bool JsonResults { get; set; } = true;

    /// <summary>
    /// The buffer in front of the JSON results: it only waits for an append to the disk queue (whose own
    /// <see cref="DiskQueueOptions.FullPolicy"/> governs broker outages), so by default it blocks and loses nothing.
    /// </summary>
    public SinkBufferOptions Buffer { get; set; } = new() { Policy = SinkFullPolicy.Block };

    /// <summary>The embedded broker's port, used when <see cref="Host"/> is empty.</summary>
    [Range(1, 65535)]
    public int EmbeddedBrokerPort { get; set; } = 1883;

    /// <summary>Where the embedded broker listens: loopback by default; any other address needs a users file (Inspection:Access:UsersFile).</summary>
    [Required]
    public string EmbeddedBrokerAddress { get; set; } = "127.0.0.1";

    public bool UsesEmbeddedBroker => string.IsNullOrWhiteSpace(Host);

    /// <summary>The password from <see cref="PasswordFile"/> if set, else <see cref="Password"/>.</summary>
    public string? ResolvePassword() =>
        PasswordFile is { Length: > 0 } file ? File.ReadAllText(file).TrimEnd('\r', '\n') : Password;
}

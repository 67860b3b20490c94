using System.ComponentModel.DataAnnotations;
using Inspection.Core;

namespace Inspection.Messaging.Sparkplug;

/// <summary>How camera data goes out as Sparkplug DDATA.</summary>
public enum SparkplugReporting
{
    /// <summary>A DDATA for every inspected frame, carrying its sequence number, so it matches the frame's JSON result.</summary>
    EveryFrame,

    /// <summary>At most one DDATA per camera every <see cref="SparkplugOptions.DataInterval"/>, with what changed (report by exception).</summary>
    ByException,
}

/// <summary>
/// The Sparkplug B edge node, beside or instead of the JSON results (Inspection:Sparkplug). It uses the MQTT
/// connection settings of <see cref="MqttOptions"/> (credentials, TLS, and the broker unless
/// <see cref="Host"/> names another) on its own session, whose Will is its NDEATH.
/// </summary>
public sealed class SparkplugOptions
{
    public bool Enabled { get; set; }

    [Required]
    [RegularExpression("^[^/#+\\s]+$", ErrorMessage = "GroupId may not contain '/', '#', '+' or spaces.")]
    public string GroupId { get; set; } = "Inspection";

    [Required]
    [RegularExpression("^[^/#+\\s]+$", ErrorMessage = "EdgeNodeId may not contain '/', '#', '+' or spaces.")]
    public string EdgeNodeId { get; set; } = Environment.MachineName;

    /// <summary>The SCADA host's broker when it is not the one of Inspection:Mqtt.</summary>
    public string? Host { get; set; }

    [Range(1, 65535)]
    public int? Port { get; set; }

    public SparkplugReporting Reporting { get; set; } = SparkplugReporting.EveryFrame;

    /// <summary>ByException: changes are published as DDATA at most this often.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan DataInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The primary host application's id (Sparkplug 3.0): the node publishes only while that host's STATE says
    /// online, and goes quiet (NDEATH, then waits) while it is offline. Empty: publish whenever connected.
    /// </summary>
    [RegularExpression("^[^/#+\\s]+$", ErrorMessage = "PrimaryHostId may not contain '/', '#', '+' or spaces.")]
    public string? PrimaryHostId { get; set; }

    /// <summary>A publish the broker does not take within this time (a hung broker) ends the session; it reconnects.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the birth/death sequence number is kept between restarts, so hosts see it advance.</summary>
    [Required]
    public string BdSeqFile { get; set; } = "data/sparkplug-bdseq";

    /// <summary>Sparkplug data is live state, sent at QoS 0: when the broker lags, the oldest waiting items go first.</summary>
    public SinkBufferOptions Buffer { get; set; } = new() { Capacity = 1024, Policy = SinkFullPolicy.DropOldest };
}

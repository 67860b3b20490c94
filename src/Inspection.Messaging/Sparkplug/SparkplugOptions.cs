using System.ComponentModel.DataAnnotations;

namespace Inspection.Messaging.Sparkplug;

/// <summary>
/// The Sparkplug B edge node, beside or instead of the JSON results. It uses the MQTT connection settings of
/// <see cref="MqttOptions"/> (host, credentials, TLS) on its own session, whose Will is its NDEATH.
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

    /// <summary>Changes are published as DDATA at most this often (report by exception).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan DataInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Where the birth/death sequence number is kept between restarts, so hosts see it advance.</summary>
    public string BdSeqFile { get; set; } = "data/sparkplug-bdseq";
}

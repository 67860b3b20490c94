namespace Inspection.Messaging;

/// <summary>The topic tree: {prefix}/{site}/{line}/{camera}/result|defect|status|cmd and {prefix}/{site}/{line}/service/status.</summary>
public sealed class MqttTopics(MqttOptions options)
{
    /// <summary>The reserved name under the line for the service itself; no camera may use it.</summary>
    public const string ServiceSegment = "service";

    public string LineRoot { get; } = $"{options.TopicPrefix.TrimEnd('/')}/{options.Site}/{options.Line}";

    public string Result(string camera) => $"{LineRoot}/{camera}/result";

    public string Defect(string camera) => $"{LineRoot}/{camera}/defect";

    public string CameraStatus(string camera) => $"{LineRoot}/{camera}/status";

    /// <summary>Retained: online while the service is connected, offline when it stops or (its Will) dies.</summary>
    public string ServiceStatus => $"{LineRoot}/{ServiceSegment}/status";
}

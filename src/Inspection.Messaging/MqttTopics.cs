namespace Inspection.Messaging;

/// <summary>The topic tree: {prefix}/{site}/{line}/{camera}/result|defect|status|trigger|cmd and {prefix}/{site}/{line}/service/status.</summary>
public sealed class MqttTopics(MqttOptions options)
{
    /// <summary>The reserved name under the line for the service itself; no camera may use it.</summary>
    public const string ServiceSegment = "service";

    public string LineRoot { get; } = $"{options.TopicPrefix.TrimEnd('/')}/{options.Site}/{options.Line}";

    public string Result(string camera) => $"{LineRoot}/{camera}/result";

    public string Defect(string camera) => $"{LineRoot}/{camera}/defect";

    public string CameraStatus(string camera) => $"{LineRoot}/{camera}/status";

    /// <summary>Where a PLC asks for one inspection of a triggered camera: {"partId": "...", "time": ...}.</summary>
    public string Trigger(string camera) => $"{LineRoot}/{camera}/trigger";

    /// <summary>Subscribes to every camera's trigger topic.</summary>
    public string AllTriggers => $"{LineRoot}/+/trigger";

    /// <summary>The camera a trigger topic addresses, or null when <paramref name="topic"/> is not one.</summary>
    public string? TriggerCamera(string topic)
    {
        var prefix = LineRoot + "/";
        if (!topic.StartsWith(prefix, StringComparison.Ordinal) || !topic.EndsWith("/trigger", StringComparison.Ordinal))
        {
            return null;
        }

        var camera = topic[prefix.Length..^"/trigger".Length];
        return camera.Length > 0 && !camera.Contains('/') ? camera : null;
    }

    /// <summary>Retained: online while the service is connected, offline when it stops or (its Will) dies.</summary>
    public string ServiceStatus => $"{LineRoot}/{ServiceSegment}/status";
}

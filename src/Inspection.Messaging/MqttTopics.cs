using Inspection.Core;

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

    /// <summary>Where the service publishes its events of one kind: {line}/service/model, /heartbeat, /retrain.</summary>
    public string ServiceEvent(string kind) => $"{LineRoot}/{ServiceSegment}/{kind}";

    /// <summary>Commands arrive on {line}/cmd/{name} (for the line) and {line}/{camera}/cmd/{name}.</summary>
    public IReadOnlyList<string> CommandFilters => [$"{LineRoot}/cmd/+", $"{LineRoot}/+/cmd/+"];

    /// <summary>The name and camera of a command topic; null when <paramref name="topic"/> is not one.</summary>
    public (string Name, string? Camera)? Command(string topic)
    {
        var rest = topic.StartsWith(LineRoot + "/", StringComparison.Ordinal) ? topic[(LineRoot.Length + 1)..].Split('/') : [];
        return rest switch
        {
            ["cmd", var name] => (name, null),
            [var camera, "cmd", var name] => (name, camera),
            _ => null,
        };
    }

    /// <summary>
    /// The MQTT reply rule, in one place: a request is answered on its MQTT 5 response topic, with its correlation
    /// data, or else on its own topic + "/reply"; results for a trigger also go to its response topic, if it named one.
    /// </summary>
    public static ReplyAddress ReplyTo(string sink, string requestTopic, string? responseTopic, ReadOnlyMemory<byte> correlationData)
    {
        var named = responseTopic is { Length: > 0 } ? responseTopic : null;
        return new ReplyAddress(sink, named ?? requestTopic + "/reply", named, correlationData);
    }
}

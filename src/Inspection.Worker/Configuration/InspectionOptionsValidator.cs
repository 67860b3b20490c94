using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Inspection.Core;
using Inspection.Messaging;
using Inspection.Models;
using Inspection.Vision;
using Inspection.Worker.Rules;

namespace Inspection.Worker.Configuration;

/// <summary>
/// Checks the whole configuration at once and names every problem by its configuration path
/// (Inspection:Cameras:0:Uri), so that one start shows all there is to fix.
/// </summary>
public static class InspectionOptionsValidator
{
    public static List<string> Problems(InspectionOptions options)
    {
        var problems = new List<string>();
        Annotations(options, InspectionOptions.Section, problems);
        if (!options.Mqtt.JsonResults && !options.Sparkplug.Enabled)
        {
            problems.Add($"{InspectionOptions.Section}:Mqtt:JsonResults: false, and Sparkplug is not enabled either: no output would carry the results; enable one of them.");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Cameras.Count; i++)
        {
            var camera = options.Cameras[i];
            var path = $"{InspectionOptions.Section}:Cameras:{i}";
            if (camera.Id.Length > 0 && !ids.Add(camera.Id))
            {
                problems.Add($"{path}:Id: '{camera.Id}' is used by another camera; camera ids must be unique.");
            }

            if (camera.Id == MqttTopics.ServiceSegment)
            {
                problems.Add($"{path}:Id: '{MqttTopics.ServiceSegment}' is reserved for the service's own topics; choose another id.");
            }

            if (camera.Uri.Length > 0)
            {
                try
                {
                    if (SourceLocation.Resolve(camera).Missing() is { } missing)
                    {
                        problems.Add($"{path}:Uri: {missing}.");
                    }
                }
                catch (InspectionInputException e)
                {
                    problems.Add($"{path}:Uri: {e.Message}");
                }
            }

            if (camera.Mode == InspectionMode.Triggered && camera.TriggerHistory >= Pipeline.CameraFeeds.FramesInFlight(camera, options))
            {
                problems.Add($"{path}:TriggerHistory: {camera.TriggerHistory} frames kept for triggers need MaxFramesInFlight above it (now {Pipeline.CameraFeeds.FramesInFlight(camera, options)}).");
            }

            Polygons(camera.Rules.Regions, $"{path}:Rules:Regions", problems);
            Polygons(camera.Rules.IgnoreMasks, $"{path}:Rules:IgnoreMasks", problems);
        }

        Access(options, problems);
        problems.AddRange(options.Web.Problems(options.Access.UsersFile));
        if (options.Web.Enabled && Uri.TryCreate(options.Web.Url, UriKind.Absolute, out var web) && Uri.TryCreate(options.Http.Url, UriKind.Absolute, out var http) && web.Port == http.Port)
        {
            problems.Add($"{InspectionOptions.Section}:Web:Url '{options.Web.Url}' has the port of Inspection:Http:Url ({http.Port}); the screen needs a listener of its own: give it another port (9401 by default).");
        }
        if (options.Model.ModelPath.Length > 0 && !File.Exists(options.Model.ModelPath))
        {
            problems.Add($"{InspectionOptions.Section}:Model:ModelPath: '{options.Model.ModelPath}' does not exist; give an ONNX model exported by 'inspection export' or Ultralytics.");
        }

        if (options.Model.Registry is { Length: > 0 } registry)
        {
            if (options.Model.Name is not { Length: > 0 })
            {
                problems.Add($"{InspectionOptions.Section}:Model:Name: a registry needs the name of the model to serve.");
            }

            if (!Directory.Exists(registry))
            {
                problems.Add($"{InspectionOptions.Section}:Model:Registry: '{registry}' does not exist; create it with 'inspection models register'.");
            }

            if (options.Model.ModelPath.Length > 0)
            {
                problems.Add($"{InspectionOptions.Section}:Model:ModelPath: give a model file or a registry, not both.");
            }
        }

        if (options.Model.PublicKeyFile is { Length: > 0 } publicKey)
        {
            if (options.Model.Registry is not { Length: > 0 })
            {
                problems.Add($"{InspectionOptions.Section}:Model:PublicKeyFile: signatures are kept beside registry versions; configure Inspection:Model:Registry and Name (a model file cannot be verified).");
            }

            try
            {
                SigningKeys.LoadPublicKey(publicKey).Dispose();
            }
            catch (InspectionInputException e)
            {
                problems.Add($"{InspectionOptions.Section}:Model:PublicKeyFile: {e.Message}");
            }
        }

        Exists(options.Mqtt.PasswordFile, "Mqtt:PasswordFile", problems);
        Exists(options.Mqtt.CaFile, "Mqtt:CaFile", problems);
        Exists(options.Mqtt.ClientCertificateFile, "Mqtt:ClientCertificateFile", problems);
        Exists(options.Mqtt.ClientKeyFile, "Mqtt:ClientKeyFile", problems);
        if (!(Uri.TryCreate(options.Http.Url, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
        {
            problems.Add($"{InspectionOptions.Section}:Http:Url: '{options.Http.Url}' is not an http:// address such as http://127.0.0.1:9400.");
        }

        return problems;
    }

    private static void Polygons(List<string> polygons, string path, List<string> problems)
    {
        for (var i = 0; i < polygons.Count; i++)
        {
            if (!Polygon.TryParse(polygons[i], out _, out var error))
            {
                problems.Add($"{path}:{i}: {error}");
            }
        }
    }

    private static void Exists(string? file, string path, List<string> problems)
    {
        if (file is { Length: > 0 } && !File.Exists(file))
        {
            problems.Add($"{InspectionOptions.Section}:{path}: '{file}' does not exist.");
        }
    }

    /// <summary>Data annotations of <paramref name="value"/> and of the option objects it holds, with their paths.</summary>
    /// <summary>The users and keys files load, signing has keys, the embedded broker leaves loopback only with users, limits are a range.</summary>
    private static void Access(InspectionOptions options, List<string> problems)
    {
        var access = options.Access;
        var section = $"{InspectionOptions.Section}:Access";
        Load(access.UsersFile, path => Inspection.Access.UsersFile.Load(path), $"{section}:UsersFile", problems);
        Load(access.CommandKeysFile, path => Inspection.Access.CommandKeys.Load(path), $"{section}:CommandKeysFile", problems);
        if (access.RequireSignedCommands && access.CommandKeysFile is not { Length: > 0 })
        {
            problems.Add($"{section}:RequireSignedCommands: signed commands need the keys to check them with; give {section}:CommandKeysFile.");
        }

        for (var i = 0; i < access.ResponseTopics.Count; i++)
        {
            var filter = access.ResponseTopics[i];
            if (filter.Length == 0 || filter.Split('/').Any(level => level.Length > 1 && (level.Contains('#') || level.Contains('+'))) || (filter.Contains('#') && !filter.EndsWith('#')))
            {
                problems.Add($"{section}:ResponseTopics:{i}: '{filter}' is not an MQTT topic filter ('+' for one level, '#' only at the end).");
            }
        }

        var address = options.Mqtt.EmbeddedBrokerAddress;
        if (!System.Net.IPAddress.TryParse(address, out var ip))
        {
            problems.Add($"{InspectionOptions.Section}:Mqtt:EmbeddedBrokerAddress: '{address}' is not an IP address.");
        }
        else if (options.Mqtt.UsesEmbeddedBroker && !System.Net.IPAddress.IsLoopback(ip) && access.UsersFile is not { Length: > 0 })
        {
            problems.Add($"{InspectionOptions.Section}:Mqtt:EmbeddedBrokerAddress: the embedded broker admits anyone without users, so it may listen on {address} only with {section}:UsersFile.");
        }

        var limits = options.Rules.CommandLimits;
        if (limits.MinConfidence > limits.MaxConfidence)
        {
            problems.Add($"{InspectionOptions.Section}:Rules:CommandLimits: MinConfidence {limits.MinConfidence} is above MaxConfidence {limits.MaxConfidence}.");
        }
    }

    private static void Load(string? path, Action<string> load, string setting, List<string> problems)
    {
        if (path is not { Length: > 0 })
        {
            return;
        }

        try
        {
            load(path);
        }
        catch (InspectionInputException e)
        {
            problems.Add($"{setting}: {e.Message}.");
        }
    }

    private static void Annotations(object value, string path, List<string> problems)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true);
        foreach (var result in results)
        {
            var member = result.MemberNames.FirstOrDefault();
            problems.Add($"{path}{(member is null ? string.Empty : ":" + member)}: {result.ErrorMessage}");
        }

        foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
        {
            var child = property.GetValue(value);
            var childPath = $"{path}:{property.Name}";
            switch (child)
            {
                case IDictionary dictionary:
                    foreach (DictionaryEntry entry in dictionary)
                    {
                        if (entry.Value is not null && IsOptions(entry.Value.GetType()))
                        {
                            Annotations(entry.Value, $"{childPath}:{entry.Key}", problems);
                        }
                    }

                    break;
                case IList list when child is not string:
                    for (var i = 0; i < list.Count; i++)
                    {
                        if (list[i] is { } item && IsOptions(item.GetType()))
                        {
                            Annotations(item, $"{childPath}:{i}", problems);
                        }
                    }

                    break;
                case not null when IsOptions(child.GetType()):
                    Annotations(child, childPath, problems);
                    break;
            }
        }
    }

    private static bool IsOptions(Type type) => type.IsClass && type.Namespace?.StartsWith("Inspection.", StringComparison.Ordinal) == true;
}

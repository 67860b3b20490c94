using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Microsoft.Extensions.Logging;

namespace Inspection.Messaging;

/// <summary>A command as it arrived: its name, the camera it addresses (null for the line), and its JSON arguments.</summary>
public sealed record CommandRequest(string Name, string? Camera, JsonObject Arguments);

/// <summary>Handles one command; throws <see cref="InspectionInputException"/> for invalid arguments (sent back as the error).</summary>
public delegate Task<JsonNode?> CommandHandler(CommandRequest request, CancellationToken cancel);

/// <summary>
/// Commands arrive on {line}/cmd/{name} (for the line) or {line}/{camera}/cmd/{name}. Each is validated and
/// answered: on its MQTT 5 response topic with its correlation data, or else on the command topic + "/reply".
/// An unknown or malformed command gets an error reply, never a crash.
/// </summary>
public sealed class CommandRouter(MqttTopics topics, ILogger logger)
{
    public const int MaxPayloadBytes = 64 * 1024;

    private readonly Dictionary<string, CommandHandler> _handlers = new(StringComparer.Ordinal);

    /// <summary>The topic filters to subscribe to.</summary>
    public IReadOnlyList<string> Filters { get; } = [$"{topics.LineRoot}/cmd/+", $"{topics.LineRoot}/+/cmd/+"];

    public IEnumerable<string> Names => _handlers.Keys.Order(StringComparer.Ordinal);

    public void Register(string name, CommandHandler handler) => _handlers[name] = handler;

    /// <summary>Runs the command in <paramref name="payload"/> received on <paramref name="topic"/>; returns the reply's payload.</summary>
    public async Task<byte[]> HandleAsync(string topic, ReadOnlyMemory<byte> payload, CancellationToken cancel)
    {
        var (name, camera) = Parse(topic);
        var reply = new JsonObject { ["command"] = name };
        if (camera is not null)
        {
            reply["camera"] = camera;
        }

        try
        {
            var arguments = Arguments(payload);
            if (arguments.TryGetPropertyValue("id", out var id))
            {
                reply["id"] = id?.DeepClone();
            }

            if (!_handlers.TryGetValue(name, out var handler))
            {
                throw new InspectionInputException($"unknown command '{name}'; known commands: {string.Join(", ", Names)}");
            }

            var result = await handler(new CommandRequest(name, camera, arguments), cancel).ConfigureAwait(false);
            reply["ok"] = true;
            reply["result"] = result;
        }
        catch (InspectionInputException e)
        {
            reply["ok"] = false;
            reply["error"] = e.Message;
            logger.LogWarning("Command {Command} on {Topic} refused: {Reason}", name, topic, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            reply["ok"] = false;
            reply["error"] = "the command failed inside the service; see its log";
            logger.LogError(e, "Command {Command} on {Topic} failed", name, topic);
        }

        return JsonSerializer.SerializeToUtf8Bytes(reply);
    }

    /// <summary>The name and camera of a command topic: {line}/cmd/{name} or {line}/{camera}/cmd/{name}.</summary>
    public (string Name, string? Camera) Parse(string topic)
    {
        var rest = topic.StartsWith(topics.LineRoot + "/", StringComparison.Ordinal) ? topic[(topics.LineRoot.Length + 1)..].Split('/') : [];
        return rest switch
        {
            ["cmd", var name] => (name, null),
            [var camera, "cmd", var name] => (name, camera),
            _ => (topic, null),
        };
    }

    private static JsonObject Arguments(ReadOnlyMemory<byte> payload)
    {
        if (payload.Length > MaxPayloadBytes)
        {
            throw new InspectionInputException($"the command is {payload.Length} bytes; at most {MaxPayloadBytes} are accepted");
        }

        if (payload.IsEmpty)
        {
            return [];
        }

        try
        {
            return JsonNode.Parse(payload.Span) as JsonObject ?? throw new InspectionInputException("the command's payload must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"the command's payload is not valid JSON: {e.Message}");
        }
    }
}

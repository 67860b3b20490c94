using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Microsoft.Extensions.Logging;

namespace Inspection.Worker.Control;

/// <summary>A command as it arrived: its name, the camera it addresses (null for the line), and its JSON arguments.</summary>
public sealed record CommandRequest(string Name, string? Camera, JsonObject Arguments);

/// <summary>Handles one command; throws <see cref="InspectionInputException"/> for invalid arguments (sent back as the error).</summary>
public delegate Task<JsonNode?> CommandHandler(CommandRequest request, CancellationToken cancel);

/// <summary>
/// The worker's commands, whatever transport brought them (MQTT today): each is validated, run, and answered with
/// {"command", "camera", "id", "ok", "result" | "error"}. An unknown or malformed command gets an error reply,
/// never a crash. Handlers are registered while the worker is built, before the first command can arrive.
/// </summary>
public sealed class CommandRouter(ILogger<CommandRouter> logger)
{
    public const int MaxPayloadBytes = 64 * 1024;

    private readonly Dictionary<string, CommandHandler> _handlers = new(StringComparer.Ordinal);

    public IEnumerable<string> Names => _handlers.Keys.Order(StringComparer.Ordinal);

    public void Register(string name, CommandHandler handler) => _handlers[name] = handler;

    /// <summary>Runs command <paramref name="name"/> for <paramref name="camera"/> (null: the line) with its JSON <paramref name="payload"/>; returns the reply's JSON.</summary>
    public async Task<byte[]> HandleAsync(string name, string? camera, ReadOnlyMemory<byte> payload, CancellationToken cancel)
    {
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
            logger.LogWarning("Command {Command} for {Camera} refused: {Reason}", name, camera ?? "the line", e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            reply["ok"] = false;
            reply["error"] = "the command failed inside the service; see its log";
            logger.LogError(e, "Command {Command} for {Camera} failed", name, camera ?? "the line");
        }

        return JsonSerializer.SerializeToUtf8Bytes(reply);
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

using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Microsoft.Extensions.Logging;

namespace Inspection.Worker.Control;

/// <summary>A command as it arrived: its name, the camera it addresses (null for the line), and its JSON arguments.</summary>
public sealed record CommandRequest(string Name, string? Camera, JsonObject Arguments);

/// <summary>Handles one command; throws <see cref="InspectionInputException"/> for invalid arguments (sent back as the error).</summary>
public delegate Task<JsonNode?> CommandHandler(CommandRequest request, CancellationToken cancel);

/// <summary>How a command went: its reply's JSON, and for the audit its outcome (accepted, refused, failed, timed_out) and why.</summary>
public sealed record CommandOutcome(byte[] Reply, string Outcome, string? Reason);

/// <summary>
/// The worker's commands, whatever transport brought them (MQTT today): each is validated, run, and answered with
/// {"command", "camera", "id", "ok", "result" | "error"}. An unknown or malformed command gets an error reply,
/// never a crash. A command that runs past its time is cancelled and answered as timed out. Handlers are
/// registered while the worker is built, before the first command can arrive; who may run them is the
/// transport's <see cref="CommandAuthority"/>'s question.
/// </summary>
public sealed class CommandRouter(ILogger<CommandRouter> logger)
{
    public const int MaxPayloadBytes = 64 * 1024;

    private readonly Dictionary<string, (CommandHandler Handler, bool Steers)> _handlers = new(StringComparer.Ordinal);

    public IEnumerable<string> Names => _handlers.Keys.Order(StringComparer.Ordinal);

    /// <param name="steers">True for commands that change verdicts or models (operators only); false for ones that only read.</param>
    public void Register(string name, CommandHandler handler, bool steers) => _handlers[name] = (handler, steers);

    public bool Knows(string name) => _handlers.ContainsKey(name);

    /// <summary>Whether <paramref name="name"/> changes verdicts or models; an unknown name counts as one (it is refused anyway).</summary>
    public bool Steers(string name) => !_handlers.TryGetValue(name, out var entry) || entry.Steers;

    /// <summary>A refusal in the reply's shape, for requests refused before they run (not authorised, busy).</summary>
    public static CommandOutcome Refusal(string name, string? camera, string reason) => new(Reply(name, camera, null, ok: false, reason), "refused", reason);

    /// <summary>Runs command <paramref name="name"/> for <paramref name="camera"/> (null: the line) with its JSON <paramref name="payload"/> within <paramref name="timeout"/>.</summary>
    public async Task<CommandOutcome> HandleAsync(string name, string? camera, ReadOnlyMemory<byte> payload, TimeSpan timeout, CancellationToken cancel)
    {
        JsonNode? id = null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        try
        {
            var arguments = Arguments(payload);
            id = arguments.TryGetPropertyValue("id", out var given) ? given?.DeepClone() : null;
            if (!_handlers.TryGetValue(name, out var entry))
            {
                throw new InspectionInputException($"unknown command '{name}'; known commands: {string.Join(", ", Names)}");
            }

            deadline.CancelAfter(timeout);
            var result = await entry.Handler(new CommandRequest(name, camera, arguments), deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
            return new CommandOutcome(Reply(name, camera, id, ok: true, result), "accepted", null);
        }
        catch (InspectionInputException e)
        {
            logger.LogWarning("Command {Command} for {Camera} refused: {Reason}", name, camera ?? "the line", e.Message);
            return new CommandOutcome(Reply(name, camera, id, ok: false, e.Message), "refused", e.Message);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancel.IsCancellationRequested)
        {
            var reason = $"the command did not finish within {timeout.TotalSeconds:0.#} s and was cancelled; nothing it had not finished was changed";
            logger.LogWarning("Command {Command} for {Camera} timed out after {Seconds} s.", name, camera ?? "the line", timeout.TotalSeconds);
            return new CommandOutcome(Reply(name, camera, id, ok: false, reason), "timed_out", reason);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Command {Command} for {Camera} failed", name, camera ?? "the line");
            return new CommandOutcome(Reply(name, camera, id, ok: false, "the command failed inside the service; see its log"), "failed", e.GetBaseException().Message);
        }
    }

    /// <summary>{"command", "camera", "id", "ok", "result" | "error"}.</summary>
    private static byte[] Reply(string name, string? camera, JsonNode? id, bool ok, object? resultOrError)
    {
        var reply = new JsonObject { ["command"] = name };
        if (camera is not null)
        {
            reply["camera"] = camera;
        }

        if (id is not null)
        {
            reply["id"] = id;
        }

        reply["ok"] = ok;
        if (ok)
        {
            reply["result"] = (JsonNode?)resultOrError;
        }
        else
        {
            reply["error"] = (string?)resultOrError;
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

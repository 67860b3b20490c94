using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Inspection.Web;

/// <summary>
/// The model and the rules: reads and, for operators, the same commands the MQTT command topic takes, through the
/// worker's one command path (same limits, same audit events).
/// </summary>
internal static class CommandEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/model", ModelAsync);
        api.MapPost("/model/promote", (HttpContext c, ILineCommands l) => SteerAsync<VersionBody>(c, l, "promote", null, b => new JsonObject { ["version"] = b.Version })).AddEndpointFilter<RequireCsrf>();
        api.MapPost("/model/shadow", (HttpContext c, ILineCommands l) => SteerAsync<VersionBody>(c, l, "shadow", null, b => new JsonObject { ["version"] = b.Version })).AddEndpointFilter<RequireCsrf>();
        api.MapPost("/model/rollback", (HttpContext c, ILineCommands l) => SteerAsync<EmptyBody>(c, l, "rollback", null, _ => [])).AddEndpointFilter<RequireCsrf>();
        api.MapPost("/model/shadow-stop", (HttpContext c, ILineCommands l) => SteerAsync<EmptyBody>(c, l, "shadow-stop", null, _ => [])).AddEndpointFilter<RequireCsrf>();
        api.MapPost("/model/heartbeat", (HttpContext c, ILineCommands l) => SteerAsync<EmptyBody>(c, l, "heartbeat", null, _ => [])).AddEndpointFilter<RequireCsrf>();
        api.MapGet("/rules", RulesAsync);
        api.MapPut("/rules/{camera}/thresholds", (HttpContext c, ILineCommands l, string camera) =>
            SteerAsync<ThresholdBody>(c, l, "set-thresholds", camera == "*" ? null : camera, b => b.Class is null
                ? new JsonObject { ["confidence"] = b.Confidence }
                : new JsonObject { ["class"] = b.Class, ["confidence"] = b.Confidence })).AddEndpointFilter<RequireCsrf>();
        api.MapGet("/audit", (HttpContext c, WebSink sink, int? limit) => c.User.IsInRole(WebUsers.OperatorRole)
            ? Results.Json(sink.Audit(Math.Clamp(limit ?? 50, 1, WebSink.AuditKept)), WebJson.Options)
            : WebHttp.Error(403, "the audit trail is for operators"));
    }

    /// <summary>A user for reads: the signed-in one, or (local viewer) a viewer named after this host's screen.</summary>
    public static WebUser Reader(HttpContext context) => WebUsers.Of(context.User) ?? new WebUser("local-viewer", Role.Scada);

    /// <summary>
    /// Runs a steering command for an operator. Anyone else is refused with 403 before anything runs, and the
    /// refusal is audited as an MQTT one would be. A body that is not of the command's shape is a 400.
    /// </summary>
    public static async Task<IResult> SteerAsync<T>(HttpContext context, ILineCommands line, string command, string? camera, Func<T, JsonObject> arguments)
        where T : class
    {
        if (WebUsers.Of(context.User) is not { Role: Role.Operator } user)
        {
            var who = WebUsers.Of(context.User);
            await line.AuditAsync(who, who?.Name ?? "local-viewer", command, "refused", "the viewer role cannot steer the line").ConfigureAwait(false);
            return WebHttp.Error(403, $"'{command}' is for operators; sign in as an operator");
        }

        var (body, refusal) = await WebHttp.ReadAsync<T>(context).ConfigureAwait(false);
        return body is null ? refusal! : Answer(await line.RunAsync(user, command, camera, arguments(body), audit: true, context.RequestAborted).ConfigureAwait(false));
    }

    public static IResult Answer(LineCommandResult result) => result.Status == 200
        ? Results.Json(result.Result, WebJson.Options)
        : WebHttp.Error(result.Status, result.Error ?? "the command failed");

    private static async Task<IResult> ModelAsync(HttpContext context, ILineCommands line, WebSink sink, WebOptions options, RegistryView registry)
    {
        var model = await line.RunAsync(Reader(context), "model", null, [], audit: false, context.RequestAborted).ConfigureAwait(false);
        if (model.Status != 200)
        {
            return Answer(model);
        }

        var answer = model.Result as JsonObject ?? new JsonObject { ["status"] = model.Result };
        registry.AddTo(answer);
        answer["lastHeartbeat"] = sink.LastEvent("heartbeat");
        answer["lastRetrain"] = LastRetrain(options.RetrainReports);
        return Results.Json(answer, WebJson.Options);
    }

    private static async Task<IResult> RulesAsync(HttpContext context, ILineCommands line, WebHostContext host)
    {
        var thresholds = await line.RunAsync(Reader(context), "get-thresholds", null, [], audit: false, context.RequestAborted).ConfigureAwait(false);
        return thresholds.Status != 200
            ? Answer(thresholds)
            : Results.Json(new { thresholds = thresholds.Result, limits = new { min = host.MinConfidence, max = host.MaxConfidence } }, WebJson.Options);
    }

    /// <summary>The newest retraining run's report.json, or null.</summary>
    private static JsonNode? LastRetrain(string? folder)
    {
        if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder))
        {
            return null;
        }

        var newest = Directory.EnumerateFiles(folder, "report.json", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 1 })
            .Select(f => new FileInfo(f)).MaxBy(f => f.LastWriteTimeUtc);
        try
        {
            return newest is null ? null : JsonNode.Parse(File.ReadAllText(newest.FullName));
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return new JsonObject { ["error"] = $"{newest!.FullName} cannot be read: {e.Message}" };
        }
    }

    private sealed record VersionBody(int Version);

    private sealed record EmptyBody;

    private sealed record ThresholdBody(double Confidence, string? Class = null);
}

using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Inspection.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Inspection.Web;

/// <summary>
/// The defects gallery's API: evidence pages, one item, its picture (the URL results name, so HMI and SCADA
/// screens may fetch it with Basic auth, or without a login when configured), and review through the worker's
/// "review" command, which does what 'inspection dataset review' does.
/// </summary>
internal static class EvidenceEndpoints
{
    public const int MaxPage = 200, MaxLabels = 500;

    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/evidence", Page);
        api.MapGet("/evidence/{id}.jpg", PictureAsync).AllowAnonymous();
        api.MapGet("/evidence/{id}", Item);
        api.MapPost("/evidence/{id}/review", ReviewAsync).AddEndpointFilter<RequireCsrf>();
    }

    private static IResult Page(EvidenceFiles evidence, string? status, string? camera, string? verdict, string? kind, string? before, int? limit)
    {
        status ??= "pending";
        if (!EvidenceFiles.Statuses.Contains(status))
        {
            return WebHttp.Error(400, $"status '{status}' is none of {string.Join(", ", EvidenceFiles.Statuses)}");
        }

        var size = Math.Clamp(limit ?? 48, 1, MaxPage);
        var items = evidence.Page(status, camera, verdict, kind, before, size);
        return Results.Json(new { items, next = items.Count == size ? items[^1].Id : null }, WebJson.Options);
    }

    private static IResult Item(EvidenceFiles evidence, string id)
    {
        if (evidence.Item(id) is not { } item)
        {
            return Gone();
        }

        var classes = evidence.ClassNames();
        return Results.Json(new
        {
            item.Id, item.Camera, item.CaptureTime, item.Verdict, item.Kind, item.PartId, item.Model, item.Detections, item.ImageUrl, item.Status,
            labels = evidence.Labels(id, classes), classes,
        }, WebJson.Options);
    }

    /// <summary>Whether the id's capture time (its yyyyMMddTHHmmssfff prefix, UTC) is at most 10 s ago.</summary>
    private static bool JustCaptured(string id, DateTime now) =>
        id.Length > 18 && DateTime.TryParseExact(id[..18], "yyyyMMdd'T'HHmmssfff", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var captured)
        && now - captured < TimeSpan.FromSeconds(10);

    private static async Task<IResult> PictureAsync(HttpContext context, string id, EvidenceFiles evidence, TimeProvider time, WebOptions options, WebUsers users, LoginThrottle throttle, ILineCommands line)
    {
        if (await AllowedAsync(context, options, users, throttle, line).ConfigureAwait(false) is { } refusal)
        {
            return refusal;
        }

        if (!evidence.Enabled)
        {
            return Gone();
        }

        // A result names its evidence before the store has written it (moments later, on its own thread): a request in
        // between, from the gallery's live tiles or an HMI reading the MQTT message, waits for the item to be complete.
        for (var waited = 0; waited < 3000 && evidence.Status(id) is null && JustCaptured(id, time.GetUtcNow().UtcDateTime); waited += 50)
        {
            await Task.Delay(50, context.RequestAborted).ConfigureAwait(false);
        }

        if (evidence.Status(id) is null || evidence.ImagePath(id) is not { } path)
        {
            return Gone();
        }

        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            var info = new FileInfo(path);
            context.Response.Headers.ETag = string.Create(CultureInfo.InvariantCulture, $"\"{info.Length:x}-{info.LastWriteTimeUtc.Ticks:x}\"");
            context.Response.Headers.CacheControl = "private, max-age=3600";
            return Results.Stream(stream, "image/jpeg");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Gone(); // the quota took it just now
        }
    }

    /// <summary>A session, Basic auth against the users file (https or loopback only), or no login when allowed: null; otherwise the 401.</summary>
    private static async Task<IResult?> AllowedAsync(HttpContext context, WebOptions options, WebUsers users, LoginThrottle throttle, ILineCommands line)
    {
        if (WebUsers.Of(context.User) is not null || options.Evidence.AllowAnonymous || users.LocalViewer)
        {
            return null;
        }

        var secure = context.Request.IsHttps || context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote);
        if (secure && AuthenticationHeaderValue.TryParse(context.Request.Headers.Authorization, out var header) && header.Scheme == "Basic" && header.Parameter is { } encoded &&
            Credentials(encoded) is var (name, password))
        {
            if (throttle.LockedFor(name) is null && users.Verify(name, password) is { } user && WebUsers.WebRole(user.Role) is not null)
            {
                throttle.Succeeded(name);
                return null;
            }

            throttle.Failed(name);
            await line.AuditAsync(null, name, "login", "refused", "evidence picture with a wrong password").ConfigureAwait(false);
        }

        context.Response.Headers.WWWAuthenticate = "Basic realm=\"inspection evidence\", charset=\"UTF-8\"";
        return WebHttp.Error(401, "evidence pictures need a session or Basic auth with an operator or scada user");
    }

    private static (string Name, string Password)? Credentials(string encoded)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 ? (text[..colon], text[(colon + 1)..]) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static async Task<IResult> ReviewAsync(HttpContext context, string id, EvidenceFiles evidence, ILineCommands line)
    {
        if (WebUsers.Of(context.User) is not { Role: Role.Operator })
        {
            return await CommandEndpoints.SteerAsync<ReviewBody>(context, line, "review", null, _ => []).ConfigureAwait(false); // refused and audited
        }

        switch (evidence.Status(id))
        {
            case null:
                return Gone();
            case not "pending" and var status:
                return WebHttp.Error(409, $"evidence item '{id}' is {status} already");
        }

        var (body, refusal) = await WebHttp.ReadAsync<ReviewBody>(context).ConfigureAwait(false);
        if (body is null)
        {
            return refusal!;
        }

        if (Problem(body, evidence.ClassNames()) is { } problem)
        {
            return WebHttp.Error(400, problem);
        }

        var arguments = new JsonObject { ["item"] = id, ["action"] = body.Action };
        if (body.Labels is { } labels)
        {
            arguments["labels"] = new JsonArray([.. labels.Select(l => (JsonNode)string.Create(CultureInfo.InvariantCulture, $"{l.ClassId} {l.Cx} {l.Cy} {l.W} {l.H}"))]);
        }

        var result = await line.RunAsync(WebUsers.Of(context.User)!, "review", null, arguments, audit: true, context.RequestAborted).ConfigureAwait(false);
        return result.Status == 200 ? Results.Json(new { id, status = body.Action == "reject" ? "rejected" : "reviewed" }, WebJson.Options) : CommandEndpoints.Answer(result);
    }

    private static string? Problem(ReviewBody body, IReadOnlyList<string> classes)
    {
        if (body.Action is not ("accept" or "reject" or "relabel"))
        {
            return $"action '{body.Action}' is none of accept, reject, relabel";
        }

        if (body.Action != "relabel")
        {
            return body.Labels is null ? null : $"labels go with action 'relabel' only, not '{body.Action}'";
        }

        if (body.Labels is null || body.Labels.Count > MaxLabels)
        {
            return $"relabel needs \"labels\": a list of at most {MaxLabels} boxes {{classId, cx, cy, w, h}}";
        }

        foreach (var label in body.Labels)
        {
            if (label.ClassId < 0 || classes.Count > 0 && label.ClassId >= classes.Count)
            {
                return $"class {label.ClassId} is not one of the evidence's classes 0..{classes.Count - 1}";
            }

            if (new[] { label.Cx, label.Cy, label.W, label.H }.Any(v => v is < 0 or > 1 || double.IsNaN(v)))
            {
                return $"a box of class {label.ClassId} has a value outside 0..1; cx, cy, w and h are fractions of the picture";
            }
        }

        return null;
    }

    private static IResult Gone() => WebHttp.Error(404, "no such evidence item: it was never kept, or the quota has evicted it");

    private sealed record ReviewBody(string Action, IReadOnlyList<LabelBody>? Labels = null);

    private sealed record LabelBody(int ClassId, double Cx, double Cy, double W, double H);
}

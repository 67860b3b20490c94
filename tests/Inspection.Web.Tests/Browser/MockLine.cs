using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Logging;

namespace Inspection.Web.Tests.Browser;

/// <summary>
/// A canned line for the pages: a real Kestrel on 127.0.0.1 serving src/Inspection.Web/wwwroot from disk under the
/// worker's page routes, with the worker's security headers, and the /api of docs/web.md answering in its shapes
/// (JSON, SSE and MJPEG) from fixed data. It lets the pages' layout, console, offline and role tests run without a
/// worker; the same tests against the real worker are in the end-to-end classes.
/// </summary>
public sealed class MockLine : IAsyncDisposable
{
    public const string Csrf = "mock-csrf-token";
    public const string OperatorUser = "ana";
    public const string ViewerUser = "vic";
    public const string Password = "line-3-secret";

    // The worker's own header (docs/web.md): no inline script or style, nothing from another origin.
    private const string ContentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    private static readonly (string Route, string File)[] Pages =
    [
        ("/", "index.html"), ("/camera/{id}", "camera.html"), ("/feed", "feed.html"), ("/defects", "defects.html"),
        ("/defects/{id}", "defects.html"), ("/model", "model.html"), ("/rules", "rules.html"), ("/login", "login.html"),
    ];

    private static readonly string[] Classes = ["crack", "scratch", "dent"];

    private readonly WebApplication _app;
    private readonly byte[] _jpeg = File.ReadAllBytes(Directory.GetFiles(Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "demo"), "*.jpg")[0]);
    private readonly Dictionary<string, Dictionary<string, double>> _thresholds = new()
    {
        ["cam1"] = new() { ["crack"] = 0.5, ["scratch"] = 0.45, ["dent"] = 0.4 },
        ["cam2"] = new() { ["crack"] = 0.5, ["scratch"] = 0.45, ["dent"] = 0.4 },
    };

    private readonly ConcurrentDictionary<string, string> _evidenceStatus = [];
    private long _frameVersion;
    private long _seq;

    private MockLine(WebApplication app, string? signedIn, bool usersConfigured)
    {
        _app = app;
        SignedIn = signedIn;
        UsersConfigured = usersConfigured;
        for (var i = 0; i < 6; i++)
        {
            _evidenceStatus[EvidenceId(i)] = "pending";
        }
    }

    public string Url { get; private set; } = string.Empty;

    /// <summary>"operator", "viewer", or null when nobody is signed in.</summary>
    public string? SignedIn { get; private set; }

    /// <summary>False: no users file, the local read-only viewer mode.</summary>
    public bool UsersConfigured { get; }

    /// <summary>Every action the pages asked for: "POST /api/model/promote {json}", as received.</summary>
    public List<string> Actions { get; } = [];

    /// <param name="signedIn">"operator" or "viewer" signed in from the start, null for a login page first.</param>
    /// <param name="usersConfigured">False for the local viewer mode (no users file, no login).</param>
    public static async Task<MockLine> StartAsync(string? signedIn, bool usersConfigured = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{ServerProcess.FreePort()}");
        var app = builder.Build();
        var line = new MockLine(app, signedIn, usersConfigured);
        line.Map();
        await app.StartAsync();
        line.Url = app.Urls.First();
        return line;
    }

    public static string EvidenceId(int i) => string.Create(CultureInfo.InvariantCulture, $"20261128T17{i / 60:00}{i % 60:00}483_cam{1 + (i % 2)}_{1842 + i}_A-{7731 + i}");

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private static string WebRoot => Path.Combine(SharedData.RepositoryRoot, "src", "Inspection.Web", "wwwroot");

    private void Map()
    {
        _app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            if (context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
            {
                headers.CacheControl = "no-store";
            }

            await next(context);
        });

        foreach (var (route, file) in Pages)
        {
            _app.MapGet(route, () => Results.File(Path.Combine(WebRoot, file), "text/html; charset=utf-8"));
        }

        var types = new FileExtensionContentTypeProvider();
        _app.MapGet("/assets/{name}", (string name) =>
        {
            var path = Path.Combine(WebRoot, "assets", Path.GetFileName(name));
            return File.Exists(path) && types.TryGetContentType(path, out var type) ? Results.File(path, type) : Results.NotFound();
        });

        _app.MapGet("/api/session", Session);
        _app.MapPost("/api/session", async (HttpContext context) =>
        {
            if (Refused(context, needsOperator: false) is { } refused)
            {
                return refused;
            }

            var login = await JsonNode.ParseAsync(context.Request.Body);
            var (user, password) = ((string?)login?["user"], (string?)login?["password"]);
            if (password != Password || user is not (OperatorUser or ViewerUser))
            {
                return Results.Json(new { error = "unknown user or wrong password" }, statusCode: 401);
            }

            SignedIn = user == OperatorUser ? "operator" : "viewer";
            return Session();
        });
        _app.MapDelete("/api/session", (HttpContext context) =>
        {
            if (Refused(context, needsOperator: false) is { } refused)
            {
                return refused;
            }

            SignedIn = null;
            return Results.NoContent();
        });

        _app.MapGet("/api/cameras", () => Viewer() ?? Results.Json(Cameras()));
        _app.MapGet("/api/cameras/{id}/latest.jpg", async (string id, HttpContext context) =>
        {
            if (Viewer() is { } refused)
            {
                return refused;
            }

            if (id is not ("cam1" or "cam2"))
            {
                return Results.Json(new { error = $"no camera '{id}'" }, statusCode: 404);
            }

            await Task.Delay(200, context.RequestAborted); // a new frame 5 times a second, as Live:Fps
            var version = Interlocked.Increment(ref _frameVersion);
            context.Response.Headers.ETag = $"\"{version}\"";
            context.Response.Headers["X-Frame-Version"] = version.ToString(CultureInfo.InvariantCulture);
            context.Response.Headers["X-Verdict"] = "OK";
            context.Response.Headers["X-Source-Size"] = "320x320";
            return Results.Bytes(_jpeg, "image/jpeg");
        });
        _app.MapGet("/api/cameras/{id}/stream.mjpg", StreamAsync);
        _app.MapGet("/api/events", EventsAsync);
        _app.MapGet("/api/results", () => Viewer() ?? Results.Json(new { items = Enumerable.Range(1, 12).Select(i => Summary(i)).Reverse(), next = (long?)null }));
        _app.MapGet("/api/shift", () => Viewer() ?? Results.Json(new
        {
            start = DateTimeOffset.Now.Date.AddHours(6),
            end = DateTimeOffset.Now.Date.AddHours(14),
            cameras = new { cam1 = new { ok = 410, ng = 12, unknown = 3, yield = 0.9716 }, cam2 = new { ok = 398, ng = 20, unknown = 0, yield = 0.9522 } },
        }));
        _app.MapGet("/api/evidence", (string? status) => Viewer() ?? Results.Json(new
        {
            items = Evidence(status ?? "pending"),
            next = (string?)null,
        }));
        _app.MapGet("/api/evidence/{id}", (string id) =>
        {
            if (Viewer() is { } refused)
            {
                return refused;
            }

            if (id.EndsWith(".jpg", StringComparison.Ordinal))
            {
                return _evidenceStatus.ContainsKey(id[..^4]) ? Results.Bytes(_jpeg, "image/jpeg") : Results.Json(new { error = "evidence ID is no longer kept (quota)" }, statusCode: 404);
            }

            if (!_evidenceStatus.ContainsKey(id))
            {
                return Results.Json(new { error = $"no evidence '{id}'" }, statusCode: 404);
            }

            var item = EvidenceItem(id);
            item["labels"] = new JsonArray(
                new JsonObject { ["classId"] = 0, ["class"] = "crack", ["cx"] = 0.4, ["cy"] = 0.45, ["w"] = 0.2, ["h"] = 0.3 },
                new JsonObject { ["classId"] = 1, ["class"] = "scratch", ["cx"] = 0.7, ["cy"] = 0.25, ["w"] = 0.15, ["h"] = 0.1 });
            item["classes"] = new JsonArray([.. Classes.Select(c => (JsonNode?)c)]);
            return Results.Json(item);
        });
        _app.MapPost("/api/evidence/{id}/review", async (string id, HttpContext context) =>
        {
            var body = await Action(context);
            if (Refused(context, needsOperator: true) is { } refused)
            {
                return refused;
            }

            if (!_evidenceStatus.TryGetValue(id, out var status))
            {
                return Results.Json(new { error = $"no evidence '{id}'" }, statusCode: 404);
            }

            if (status != "pending")
            {
                return Results.Json(new { error = $"'{id}' was reviewed already" }, statusCode: 409);
            }

            _evidenceStatus[id] = (string?)JsonNode.Parse(body)?["action"] == "reject" ? "rejected" : "reviewed";
            return Results.Json(new { id, status = _evidenceStatus[id] });
        });

        _app.MapGet("/api/model", () => Viewer() ?? Results.Json(Model()));
        foreach (var command in new[] { "promote", "rollback", "shadow", "shadow-stop", "heartbeat" })
        {
            _app.MapPost($"/api/model/{command}", async (HttpContext context) =>
            {
                await Action(context);
                return Refused(context, needsOperator: true) ?? Results.Json(Model());
            });
        }

        _app.MapGet("/api/rules", () => Viewer() ?? Results.Json(Rules()));
        _app.MapPut("/api/rules/{camera}/thresholds", async (string camera, HttpContext context) =>
        {
            var body = await Action(context);
            if (Refused(context, needsOperator: true) is { } refused)
            {
                return refused;
            }

            var change = JsonNode.Parse(body)!;
            var confidence = (double)change["confidence"]!;
            if (confidence is < 0.1 or > 0.9)
            {
                return Results.Json(new { error = $"confidence {confidence} is outside 0.1..0.9, the range commands may set (Inspection:Rules:CommandLimits)" }, statusCode: 400);
            }

            foreach (var (id, classes) in _thresholds.Where(t => camera == "*" || t.Key == camera))
            {
                foreach (var name in classes.Keys.Where(c => (string?)change["class"] is not { } only || only == c).ToList())
                {
                    classes[name] = confidence;
                }
            }

            return Results.Json(_thresholds);
        });
        _app.MapGet("/api/audit", () => SignedIn == "operator" ? Results.Json(Enumerable.Range(0, 3).Select(Audit)) : Results.Json(new { error = "operators only" }, statusCode: 403));
    }

    private IResult Session() => !UsersConfigured
        ? Results.Json(new { mode = "local-viewer", role = "viewer", csrfToken = Csrf })
        : SignedIn is null
            ? Results.Json(new { error = "not signed in or the session expired", csrfToken = Csrf }, statusCode: 401)
            : Results.Json(new { user = SignedIn == "operator" ? OperatorUser : ViewerUser, role = SignedIn, expires = DateTimeOffset.UtcNow.AddHours(8), csrfToken = Csrf });

    private IResult? Viewer() => UsersConfigured && SignedIn is null ? Results.Json(new { error = "not signed in or the session expired" }, statusCode: 401) : null;

    private IResult? Refused(HttpContext context, bool needsOperator)
    {
        if (context.Request.Headers["X-CSRF-Token"] != Csrf)
        {
            return Results.Json(new { error = "missing or invalid CSRF token" }, statusCode: 400);
        }

        return needsOperator && SignedIn != "operator" ? Results.Json(new { error = "operators only" }, statusCode: 403) : null;
    }

    private async Task<string> Action(HttpContext context)
    {
        var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
        lock (Actions)
        {
            Actions.Add($"{context.Request.Method} {context.Request.Path} {body}");
        }

        return body;
    }

    private List<JsonObject> Evidence(string status) => [.. _evidenceStatus.Where(e => e.Value == status).OrderByDescending(e => e.Key, StringComparer.Ordinal).Select(e => EvidenceItem(e.Key))];

    private static JsonArray Cameras() =>
    [
        CameraJson("cam1", "continuous", "streaming", null, 24.8, []),
        CameraJson("cam2", "triggered", "streaming", null, 12.1, ["blurred"]),
    ];

    private static JsonObject CameraJson(string id, string mode, string state, string? reason, double fps, string[] integrity) => new()
    {
        ["id"] = id, ["mode"] = mode, ["state"] = state, ["reason"] = reason, ["since"] = DateTimeOffset.UtcNow.AddMinutes(-42),
        ["fps"] = fps, ["sourceWidth"] = 320, ["sourceHeight"] = 320, ["integrity"] = new JsonArray([.. integrity.Select(f => (JsonNode?)f)]),
        ["frameVersion"] = 1, ["last"] = new JsonObject { ["verdict"] = "OK", ["sequence"] = 1841, ["captureTime"] = DateTimeOffset.UtcNow, ["partId"] = mode == "triggered" ? "A-7730" : null },
        ["shift"] = new JsonObject { ["ok"] = 410, ["ng"] = 12, ["unknown"] = 3, ["yield"] = 0.9716 },
    };

    private JsonObject Summary(long seq)
    {
        var verdict = (seq % 5) switch { 0 => "NG", 3 => "UNKNOWN", _ => "OK" };
        var camera = seq % 2 == 0 ? "cam2" : "cam1";
        // New evidence for each NG or uncertain result, kept as the worker's store keeps it.
        var evidence = verdict == "OK" ? null : EvidenceId((int)(6 + seq));
        if (evidence is not null)
        {
            _evidenceStatus.TryAdd(evidence, "pending");
        }

        return new JsonObject
        {
            ["seq"] = seq, ["id"] = $"00000000-0000-4000-8000-{seq:000000000000}", ["camera"] = camera, ["sequence"] = 1800 + seq,
            ["captureTime"] = DateTimeOffset.UtcNow.AddMilliseconds(-40), ["verdict"] = verdict, ["reason"] = verdict == "UNKNOWN" ? "frozen frame" : null,
            ["partId"] = camera == "cam2" ? $"A-{7700 + seq}" : null, ["model"] = new JsonObject { ["name"] = "workpiece-crack", ["version"] = "3" },
            ["integrity"] = new JsonArray(), ["classes"] = verdict == "NG" ? new JsonArray("crack") : new JsonArray(),
            ["top"] = verdict == "OK" ? null : new JsonObject { ["class"] = "crack", ["score"] = 0.91 },
            ["detections"] = verdict == "OK" ? new JsonArray() : new JsonArray(new JsonObject { ["class"] = "crack", ["score"] = 0.91, ["box"] = new JsonArray(96, 100, 160, 190) }),
            ["evidence"] = evidence is null ? null : new JsonObject { ["id"] = evidence, ["url"] = $"{Url}/api/evidence/{evidence}.jpg" },
        };
    }

    private JsonObject EvidenceItem(string id) => new()
    {
        ["id"] = id, ["camera"] = id.Split('_')[1], ["captureTime"] = DateTimeOffset.UtcNow.AddMinutes(-5), ["verdict"] = "NG", ["kind"] = "ng",
        ["partId"] = id.Split('_')[^1], ["model"] = new JsonObject { ["name"] = "workpiece-crack", ["version"] = "3" },
        ["detections"] = new JsonArray(new JsonObject { ["class"] = "crack", ["score"] = 0.91, ["box"] = new JsonArray(96, 100, 160, 190) }),
        ["imageUrl"] = $"/api/evidence/{id}.jpg", ["status"] = _evidenceStatus[id],
    };

    private static JsonObject Model() => new()
    {
        ["serving"] = new JsonObject
        {
            ["name"] = "workpiece-crack", ["version"] = "3", ["provider"] = "Cpu", ["metrics"] = Metrics(3),
            ["card"] = new JsonObject
            {
                ["name"] = "workpiece-crack", ["version"] = 3, ["sha256"] = "5e3a41ab9f2c1c07d2e8b3f0a6c94e7718d05b2a3c6f9e1d4b7a0c3f6e9d2b5a", ["created"] = DateTimeOffset.UtcNow.AddDays(-7),
                ["parent"] = 2, ["classes"] = new JsonArray("crack"), ["imageSize"] = 320, ["metrics"] = Metrics(3),
                ["datasetFingerprint"] = "a9c03e51f7b2d846e0f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7", ["trainingArguments"] = new JsonObject { ["epochs"] = "30" }, ["checkpoint"] = "last.ckpt",
            },
        },
        ["registry"] = new JsonObject { ["current"] = 3, ["previous"] = new JsonArray(2), ["versions"] = new JsonArray(1, 2, 3, 4) },
        ["shadow"] = new JsonObject { ["candidate"] = "4", ["frames"] = 1200, ["verdictAgreement"] = 0.9933, ["detectionAgreement"] = 0.9712 },
        ["versions"] = new JsonArray([.. Enumerable.Range(1, 4).Reverse().Select(v => (JsonNode?)new JsonObject
        {
            ["version"] = v, ["created"] = DateTimeOffset.UtcNow.AddDays(v - 10), ["parent"] = v == 1 ? null : v - 1, ["metrics"] = Metrics(v),
            ["signed"] = v > 1, ["signedBy"] = v > 1 ? "3f1c9a0be47d52e6a8b1c0d9e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5" : null, ["signatureError"] = null,
            ["current"] = v == 3, ["serving"] = v == 3,
        })]),
        ["lastHeartbeat"] = new JsonObject { ["model"] = "workpiece-crack", ["version"] = "3", ["ok"] = true, ["failures"] = new JsonArray(), ["time"] = DateTimeOffset.UtcNow.AddMinutes(-3) },
        ["lastRetrain"] = new JsonObject { ["outcome"] = "registered", ["version"] = 4, ["images"] = 312, ["finished"] = DateTimeOffset.UtcNow.AddHours(-20) },
    };

    private static JsonObject Metrics(int version) => new() { ["mAP50"] = 0.7 + (version / 50.0), ["mAP50_95"] = 0.4 + (version / 50.0), ["precision"] = 0.8, ["recall"] = 0.75 };

    private JsonObject Rules() => new()
    {
        ["thresholds"] = JsonSerializer.SerializeToNode(_thresholds),
        ["limits"] = new JsonObject { ["min"] = 0.1, ["max"] = 0.9 },
    };

    private static JsonObject Audit(int i) => new()
    {
        ["time"] = DateTimeOffset.UtcNow.AddMinutes(-i), ["source"] = i == 0 ? "web" : "mqtt", ["user"] = OperatorUser, ["role"] = "Operator",
        ["via"] = "web session", ["command"] = "set-thresholds", ["camera"] = "cam1", ["outcome"] = "accepted", ["reason"] = null,
    };

    /// <summary>multipart/x-mixed-replace JPEG parts at the asked rate, as the worker's stream.mjpg.</summary>
    private async Task StreamAsync(string id, int? fps, HttpContext context)
    {
        context.Response.ContentType = "multipart/x-mixed-replace; boundary=inspectionframe";
        var body = context.Response.Body;
        try
        {
            while (!context.RequestAborted.IsCancellationRequested)
            {
                var version = Interlocked.Increment(ref _frameVersion);
                var head = Encoding.ASCII.GetBytes($"--inspectionframe\r\nContent-Type: image/jpeg\r\nContent-Length: {_jpeg.Length}\r\nX-Frame-Version: {version}\r\n\r\n");
                await body.WriteAsync(head, context.RequestAborted);
                await body.WriteAsync(_jpeg, context.RequestAborted);
                await body.WriteAsync("\r\n"u8.ToArray(), context.RequestAborted);
                await body.FlushAsync(context.RequestAborted);
                await Task.Delay(1000 / Math.Clamp(fps ?? 5, 1, 15), context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
            // The page went away.
        }
    }

    /// <summary>Server-sent events: a result every 700 ms, stats every second, the model, heartbeat and (operators) audit once.</summary>
    private async Task EventsAsync(HttpContext context)
    {
        context.Response.ContentType = "text/event-stream";
        var cancel = context.RequestAborted;
        try
        {
            await Send(context, "model", null, Model());
            await Send(context, "heartbeat", null, Model()["lastHeartbeat"]!.DeepClone());
            if (SignedIn == "operator")
            {
                await Send(context, "audit", null, Audit(0));
            }

            for (var tick = 0; !cancel.IsCancellationRequested; tick++)
            {
                var seq = Interlocked.Increment(ref _seq) + 12;
                await Send(context, "result", seq, Summary(seq));
                if (tick % 2 == 0)
                {
                    await Send(context, "stats", null, new JsonObject
                    {
                        ["shiftStart"] = DateTimeOffset.Now.Date.AddHours(6),
                        ["cameras"] = new JsonArray(
                            new JsonObject { ["id"] = "cam1", ["state"] = "streaming", ["fps"] = 24.8, ["inspected"] = 1000 + tick, ["ok"] = 410 + tick, ["ng"] = 12, ["unknown"] = 3, ["yield"] = 0.97, ["integrity"] = new JsonArray(), ["frameVersion"] = _frameVersion },
                            new JsonObject { ["id"] = "cam2", ["state"] = "streaming", ["fps"] = 12.1, ["inspected"] = 500 + tick, ["ok"] = 398, ["ng"] = 20 + tick, ["unknown"] = 0, ["yield"] = 0.95, ["integrity"] = new JsonArray("blurred"), ["frameVersion"] = _frameVersion }),
                    });
                }

                await Task.Delay(700, cancel);
            }
        }
        catch (OperationCanceledException)
        {
            // The page went away.
        }
    }

    private static async Task Send(HttpContext context, string kind, long? id, JsonNode data)
    {
        var text = (id is { } seq ? $"id: {seq}\n" : string.Empty) + $"event: {kind}\ndata: {data.ToJsonString()}\n\n";
        await context.Response.WriteAsync(text, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}

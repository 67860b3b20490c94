using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inspection.Access;
using Inspection.Core;
using Inspection.TestSupport;
using Inspection.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Web.Tests;

/// <summary>
/// The screen on real Kestrel (a free loopback port) with a users file (operator "ana", scada "sam", plc "plc1")
/// and a recording <see cref="FakeLine"/> in place of the worker's command path. Clients keep cookies.
/// </summary>
public sealed class WebApp : IAsyncDisposable
{
    public const string Password = "correct horse 7";

    private WebApp(WebApplication app, TempFolder folder, FakeLine line, string url)
    {
        (App, Folder, Line, Url) = (app, folder, line, url);
    }

    public WebApplication App { get; }
    public TempFolder Folder { get; }
    public FakeLine Line { get; }
    public string Url { get; }
    public string EvidenceRoot => Folder.File("evidence");
    public WebSink Sink => App.Services.GetRequiredService<WebSink>();
    public LiveFrames Live => App.Services.GetRequiredService<LiveFrames>();

    /// <summary>The model registry's folder (Inspection:Model:Registry, model "demo") when started with one; it need not exist yet.</summary>
    public string RegistryRoot => Folder.File("registry");

    public static async Task<WebApp> StartAsync(Action<WebOptions>? configure = null, bool withUsers = true, string[]? cameras = null, bool withRegistry = false)
    {
        var folder = new TempFolder();
        string? usersFile = null;
        if (withUsers)
        {
            usersFile = folder.File("users.json");
            UsersFile.Save(usersFile, [
                new AccessUser("ana", Role.Operator, PasswordHash.Create(Password)),
                new AccessUser("sam", Role.Scada, PasswordHash.Create(Password)),
                new AccessUser("plc1", Role.Plc, PasswordHash.Create(Password))]);
        }

        var url = $"http://127.0.0.1:{ServerProcess.FreePort()}";
        var options = new WebOptions { Url = url, KeysDirectory = folder.File("web-keys") };
        configure?.Invoke(options);
        Directory.CreateDirectory(Path.Combine(folder.Path, "evidence", "meta"));
        var context = new WebHostContext(options, folder.File("evidence"), true, withRegistry ? folder.File("registry") : null, "demo",
            [.. (cameras ?? ["cam1", "cam2"]).Select(c => new WebCamera(c, c.EndsWith('2')))], 0.05, 0.95, usersFile);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = folder.Path, EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        var line = new FakeLine();
        builder.Services.AddSingleton<ILineCommands>(line);
        builder.Services.AddInspectionWeb(context);
        var app = builder.Build();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapInspectionWeb();
        await app.StartAsync();
        return new WebApp(app, folder, line, url);
    }

    /// <param name="cookies">The client's cookie jar, when the test wants to look into it.</param>
    public HttpClient Client(CookieContainer? cookies = null) => new(new HttpClientHandler { CookieContainer = cookies ?? new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = new Uri(Url) };

    /// <summary>The CSRF token of this client's session (GET /api/session).</summary>
    public static async Task<string> CsrfAsync(HttpClient client)
    {
        using var session = await client.GetAsync("/api/session");
        return (await session.Content.ReadFromJsonAsync<JsonObject>())!["csrfToken"]!.GetValue<string>();
    }

    /// <summary>A client signed in as <paramref name="user"/>, with the CSRF header set for its session.</summary>
    public async Task<HttpClient> SignedInAsync(string user, CookieContainer? cookies = null)
    {
        var client = Client(cookies);
        var token = await CsrfAsync(client);
        using var login = await Send(client, HttpMethod.Post, "/api/session", token, new { user, password = Password });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var session = (await login.Content.ReadFromJsonAsync<JsonObject>())!;
        client.DefaultRequestHeaders.Add("X-CSRF-Token", session["csrfToken"]!.GetValue<string>());
        return client;
    }

    public static Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string path, string? csrf, object? body)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        if (csrf is not null)
        {
            request.Headers.Add("X-CSRF-Token", csrf);
        }

        return client.SendAsync(request);
    }

    public ValueTask Publish(SinkItem item) => Sink.WriteAsync(item, CancellationToken.None);

    public static InspectionResult Result(string camera, long sequence, Verdict verdict, string? className = "crack", string? partId = null) => new()
    {
        CameraId = camera,
        Sequence = sequence,
        CaptureTime = DateTimeOffset.UtcNow,
        ModelName = "demo",
        ModelVersion = "3",
        Verdict = verdict,
        Detections = className is null ? [] : [new Detection(0, 0.91f, new BoundingBox(10, 10, 50, 40))],
        ClassNames = [className ?? "crack"],
        Width = 640,
        Height = 480,
        PartId = partId,
    };

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Folder.Dispose();
    }
}

/// <summary>The worker's command path as the tests need it: records every call and audit, answers canned results.</summary>
public sealed class FakeLine : ILineCommands
{
    /// <summary>What the "model" command answers, in the worker's shape.</summary>
    public JsonObject Model { get; set; } = new() { ["serving"] = new JsonObject { ["name"] = "demo", ["version"] = "3", ["provider"] = "Cpu" } };

    public ConcurrentQueue<(WebUser User, string Command, string? Camera, JsonObject Arguments)> Commands { get; } = new();
    public ConcurrentQueue<(string User, string Command, string Outcome, string? Reason)> Audits { get; } = new();
    public Dictionary<string, double> Thresholds { get; } = new() { ["crack"] = 0.5 };

    public Task<LineCommandResult> RunAsync(WebUser user, string command, string? camera, JsonObject arguments, bool audit, CancellationToken cancel)
    {
        Commands.Enqueue((user, command, camera, (JsonObject)arguments.DeepClone()));
        switch (command)
        {
            case "set-thresholds":
                Thresholds[(string?)arguments["class"] ?? "*"] = (double)arguments["confidence"]!;
                break;
            case "model":
                return Task.FromResult(new LineCommandResult(200, Model.DeepClone(), null));
            case "get-thresholds":
                return Task.FromResult(new LineCommandResult(200, new JsonObject { ["*"] = new JsonObject(Thresholds.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value))) }, null));
        }

        return Task.FromResult(new LineCommandResult(200, new JsonObject { ["ok"] = true }, null));
    }

    public Task AuditAsync(WebUser? user, string userName, string command, string outcome, string? reason)
    {
        Audits.Enqueue((userName, command, outcome, reason));
        return Task.CompletedTask;
    }
}

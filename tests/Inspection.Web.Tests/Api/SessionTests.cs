using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inspection.TestSupport;

namespace Inspection.Web.Tests;

/// <summary>Signing in and out on real Kestrel: passwords, the lock-out, CSRF, session expiry with the session's streams, and 401 against 403.</summary>
public sealed class SessionTests
{
    [Fact]
    public async Task AnOperatorSignsInAndOutAndEveryAttemptIsAudited()
    {
        await using var web = await WebApp.StartAsync();
        using var anonymous = web.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/cameras")).StatusCode);

        using var client = await web.SignedInAsync("ana");
        var session = (await client.GetFromJsonAsync<JsonObject>("/api/session"))!;
        Assert.Equal("operator", (string?)session["role"]);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/cameras")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/api/session")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/cameras")).StatusCode);
        Assert.Equal([("ana", "login", "accepted"), ("ana", "logout", "accepted")], web.Line.Audits.Select(a => (a.User, a.Command, a.Outcome)));
    }

    [Fact]
    public async Task FiveWrongPasswordsLockTheNameEvenAgainstTheRightOne()
    {
        await using var web = await WebApp.StartAsync();
        using var client = web.Client();
        var token = await WebApp.CsrfAsync(client);
        for (var i = 1; i <= 4; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "ana", password = "wrong" })).StatusCode);
        }

        using var fifth = await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "ana", password = "wrong" });
        Assert.Equal((HttpStatusCode)429, fifth.StatusCode);
        Assert.InRange(fifth.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 290, 300);

        using var right = await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "ana", password = WebApp.Password });
        Assert.Equal((HttpStatusCode)429, right.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/cameras")).StatusCode);
        Assert.Contains(web.Line.Audits, a => a is { Command: "login", Outcome: "refused", Reason: "locked" });

        // another name is not locked by these
        using var sam = await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "sam", password = WebApp.Password });
        Assert.Equal(HttpStatusCode.OK, sam.StatusCode);
    }

    [Fact]
    public async Task UnknownNamesMachineAccountsAndMalformedLoginsAreRefused()
    {
        await using var web = await WebApp.StartAsync();
        using var client = web.Client();
        var token = await WebApp.CsrfAsync(client);
        Assert.Equal(HttpStatusCode.Unauthorized, (await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "nobody", password = WebApp.Password })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "plc1", password = WebApp.Password })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "ana" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "ana", password = WebApp.Password, admin = true })).StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await WebApp.Send(client, HttpMethod.Post, "/api/session", token, new { user = "ana", password = new string('x', 5000) })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/cameras")).StatusCode);
    }

    [Fact]
    public async Task LoginAndActionsNeedTheSessionsCsrfToken()
    {
        await using var web = await WebApp.StartAsync();
        using var client = web.Client();
        Assert.Equal(HttpStatusCode.BadRequest, (await WebApp.Send(client, HttpMethod.Post, "/api/session", null, new { user = "ana", password = WebApp.Password })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await WebApp.Send(client, HttpMethod.Post, "/api/session", "forged", new { user = "ana", password = WebApp.Password })).StatusCode);
        Assert.Empty(web.Line.Audits); // refused before the password was looked at

        using var ana = await web.SignedInAsync("ana");
        ana.DefaultRequestHeaders.Remove("X-CSRF-Token");
        using var missing = await ana.PutAsJsonAsync("/api/rules/*/thresholds", new { confidence = 0.9 });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("CSRF", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // a token from another session does not do either
        using var other = web.Client();
        var otherToken = await WebApp.CsrfAsync(other);
        Assert.Equal(HttpStatusCode.BadRequest, (await WebApp.Send(ana, HttpMethod.Put, "/api/rules/*/thresholds", otherToken, new { confidence = 0.9 })).StatusCode);

        var request = new HttpRequestMessage(HttpMethod.Put, "/api/rules/*/thresholds") { Content = JsonContent.Create(new { confidence = 0.9 }) };
        request.Headers.Add("X-CSRF-Token", await WebApp.CsrfAsync(ana));
        request.Headers.Add("Origin", "http://evil.example");
        Assert.Equal(HttpStatusCode.BadRequest, (await ana.SendAsync(request)).StatusCode);
        Assert.DoesNotContain(web.Line.Commands, c => c.Command == "set-thresholds");
        Assert.Equal(0.5, web.Line.Thresholds["crack"]);
    }

    [Fact]
    public async Task AViewerMayLookButNotSteer()
    {
        await using var web = await WebApp.StartAsync();
        using var sam = await web.SignedInAsync("sam");
        Assert.Equal(HttpStatusCode.OK, (await sam.GetAsync("/api/rules")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sam.PutAsJsonAsync("/api/rules/*/thresholds", new { confidence = 0.9 })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sam.PostAsJsonAsync("/api/model/promote", new { version = 2 })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sam.GetAsync("/api/audit")).StatusCode);
        Assert.DoesNotContain(web.Line.Commands, c => c.Command is "set-thresholds" or "promote");
        Assert.Contains(web.Line.Audits, a => a is { User: "sam", Command: "promote", Outcome: "refused" });
        Assert.Contains(web.Line.Audits, a => a is { User: "sam", Command: "set-thresholds", Outcome: "refused" });

        using var ana = await web.SignedInAsync("ana");
        using var changed = await ana.PutAsJsonAsync("/api/rules/cam1/thresholds", new { @class = "crack", confidence = 0.9 });
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Contains(web.Line.Commands, c => c is { Command: "set-thresholds", Camera: "cam1", User.Name: "ana" });
        Assert.Equal(0.9, web.Line.Thresholds["crack"]);
    }

    [Fact]
    public async Task ASessionEndsAfterItsTimeWithoutARequest()
    {
        await using var web = await WebApp.StartAsync(o => o.SessionHours = 2.0 / 3600);
        using var ana = await web.SignedInAsync("ana");
        Assert.Equal(HttpStatusCode.OK, (await ana.GetAsync("/api/cameras")).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal(HttpStatusCode.Unauthorized, (await ana.GetAsync("/api/cameras")).StatusCode);
    }

    [Fact]
    public async Task SigningOutEndsThatSessionsStreamsAndItsCookieForGoodAndNoOtherSession()
    {
        await using var web = await WebApp.StartAsync();
        var jar = new CookieContainer();
        using var ana = await web.SignedInAsync("ana", jar);
        using var anaElsewhere = await web.SignedInAsync("ana"); // the same user on another screen
        using var events = await OpenStreamAsync(ana, "/api/events");
        using var frames = await OpenStreamAsync(ana, "/api/cameras/cam1/stream.mjpg");
        using var otherEvents = await OpenStreamAsync(anaElsewhere, "/api/events");
        var cookie = jar.GetCookieHeader(new Uri(web.Url));

        Assert.Equal(HttpStatusCode.NoContent, (await ana.DeleteAsync("/api/session")).StatusCode);
        await EndsAsync(events, "the signed-out session's event stream");
        await EndsAsync(frames, "the signed-out session's MJPEG stream");

        // a copy of the cookie taken before signing out is no good either
        using var copy = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = new Uri(web.Url) };
        copy.DefaultRequestHeaders.Add("Cookie", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, (await copy.GetAsync("/api/cameras")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await copy.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead)).StatusCode);

        using var other = new SseReader(await otherEvents.Content.ReadAsStreamAsync());
        Assert.Equal("stats", (await other.NextAsync(TimeSpan.FromSeconds(5))).Name);
        Assert.Equal(HttpStatusCode.OK, (await anaElsewhere.GetAsync("/api/cameras")).StatusCode);
    }

    [Fact]
    public async Task AnExpiredSessionsOpenStreamsEnd()
    {
        await using var web = await WebApp.StartAsync(o => o.SessionHours = 2.0 / 3600);
        using var ana = await web.SignedInAsync("ana");
        using var events = await OpenStreamAsync(ana, "/api/events");
        using var frames = await OpenStreamAsync(ana, "/api/cameras/cam1/stream.mjpg");
        await EndsAsync(events, "the expired session's event stream");
        await EndsAsync(frames, "the expired session's MJPEG stream");
        Assert.Equal(HttpStatusCode.Unauthorized, (await ana.GetAsync("/api/cameras")).StatusCode);
    }

    [Fact]
    public void ASignedOutSessionStaysSignedOutAfterARestart()
    {
        using var folder = new TempFolder();
        var options = new WebOptions { KeysDirectory = folder.File("web-keys") };
        new WebSessions(options, TimeProvider.System).SignOut("0123abcd");
        var restarted = new WebSessions(options, TimeProvider.System);
        Assert.True(restarted.IsSignedOut("0123abcd"));
        Assert.False(restarted.IsSignedOut("4567ef01"));
    }

    [Fact]
    public async Task WithoutAUsersFileEveryoneOnThisHostViewsAndNobodySteers()
    {
        await using var web = await WebApp.StartAsync(withUsers: false);
        using var client = web.Client();
        var session = (await client.GetFromJsonAsync<JsonObject>("/api/session"))!;
        Assert.Equal("local-viewer", (string?)session["mode"]);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/cameras")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await WebApp.Send(client, HttpMethod.Put, "/api/rules/*/thresholds", (string?)session["csrfToken"], new { confidence = 0.9 })).StatusCode);
    }

    private static async Task<HttpResponseMessage> OpenStreamAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }

    /// <summary>Reads the stream to its end, which must come within 10 s.</summary>
    private static async Task EndsAsync(HttpResponseMessage stream, string what)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var body = await stream.Content.ReadAsStreamAsync(limit.Token);
        var buffer = new byte[64 * 1024];
        try
        {
            while (await body.ReadAsync(buffer, limit.Token) > 0)
            {
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            Assert.Fail($"{what} is still open after 10 s");
        }
    }
}

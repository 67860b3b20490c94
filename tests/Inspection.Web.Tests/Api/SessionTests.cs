using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Inspection.Web.Tests;

/// <summary>Signing in and out on real Kestrel: passwords, the lock-out, CSRF, session expiry, and 401 against 403.</summary>
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
    public async Task WithoutAUsersFileEveryoneOnThisHostViewsAndNobodySteers()
    {
        await using var web = await WebApp.StartAsync(withUsers: false);
        using var client = web.Client();
        var session = (await client.GetFromJsonAsync<JsonObject>("/api/session"))!;
        Assert.Equal("local-viewer", (string?)session["mode"]);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/cameras")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await WebApp.Send(client, HttpMethod.Put, "/api/rules/*/thresholds", (string?)session["csrfToken"], new { confidence = 0.9 })).StatusCode);
    }
}

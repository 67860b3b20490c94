using System.Net;

namespace Inspection.Web.Tests;

/// <summary>Pages and assets come from the assembly, with headers that forbid every other origin.</summary>
public sealed class PagesTests
{
    [Fact]
    public async Task PagesNeedASessionAndCarryTheContentSecurityPolicy()
    {
        await using var web = await WebApp.StartAsync();
        using var anonymous = web.Client();
        using var redirected = await anonymous.GetAsync("/feed?camera=cam1");
        Assert.Equal(HttpStatusCode.Redirect, redirected.StatusCode);
        Assert.Equal("/login?return=%2Ffeed%3Fcamera%3Dcam1", redirected.Headers.Location!.OriginalString);

        using var sam = await web.SignedInAsync("sam");
        using var page = await sam.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType!.ToString());
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());

        using var again = new HttpRequestMessage(HttpMethod.Get, "/");
        again.Headers.IfNoneMatch.Add(page.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await sam.SendAsync(again)).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await sam.GetAsync("/assets/..%2Findex.html")).StatusCode);
        using var api = await sam.GetAsync("/api/cameras");
        Assert.Equal("no-store", api.Headers.CacheControl!.ToString());
        Assert.Equal(HttpStatusCode.NotFound, (await sam.GetAsync("/api/nothing-here")).StatusCode);
    }
}

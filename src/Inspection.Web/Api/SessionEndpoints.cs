using System.Globalization;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Web;

/// <summary>Signing in and out: /api/session, with the lock-out and an audit event for every attempt; signing out ends the session's streams.</summary>
internal static class SessionEndpoints
{
    public const int MaxLoginBody = 4 * 1024;

    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/session", Current).AllowAnonymous();
        api.MapPost("/session", SignInAsync).AllowAnonymous().AddEndpointFilter<RequireCsrf>();
        api.MapDelete("/session", SignOutAsync).AllowAnonymous().AddEndpointFilter<RequireCsrf>();
    }

    private static IResult Current(HttpContext context, WebUsers users, IAntiforgery antiforgery)
    {
        var token = antiforgery.GetAndStoreTokens(context).RequestToken;
        if (WebUsers.Of(context.User) is { } user)
        {
            return Results.Json(Session(context, user, token), WebJson.Options);
        }

        return users.LocalViewer
            ? Results.Json(new { mode = "local-viewer", role = WebUsers.ViewerRole, csrfToken = token }, WebJson.Options)
            : Results.Json(new { error = "not signed in or the session expired", csrfToken = token }, WebJson.Options, statusCode: 401);
    }

    private static async Task<IResult> SignInAsync(HttpContext context, WebUsers users, LoginThrottle throttle, ILineCommands line, IAntiforgery antiforgery, WebSessions sessions, WebOptions options, TimeProvider time)
    {
        var (login, refusal) = await WebHttp.ReadAsync<Login>(context, MaxLoginBody).ConfigureAwait(false);
        if (login is null)
        {
            return refusal!;
        }

        if (throttle.LockedFor(login.User) is { } wait)
        {
            await line.AuditAsync(null, login.User, "login", "refused", "locked").ConfigureAwait(false);
            return Locked(context, wait);
        }

        var account = users.Verify(login.User, login.Password);
        if (account is null)
        {
            var locked = throttle.Failed(login.User);
            await line.AuditAsync(null, login.User, "login", "refused", locked ? "wrong password; locked" : "wrong password").ConfigureAwait(false);
            return locked ? Locked(context, throttle.LockedFor(login.User)!.Value) : WebHttp.Error(401, "wrong user name or password");
        }

        throttle.Succeeded(login.User);
        if (WebUsers.WebRole(account.Role) is null)
        {
            await line.AuditAsync(null, login.User, "login", "refused", "a machine account has no screen").ConfigureAwait(false);
            return WebHttp.Error(403, $"'{account.Name}' is a {account.Role.ToString().ToLowerInvariant()} account, a machine with no screen; sign in as an operator or scada user");
        }

        var principal = WebUsers.Principal(account, CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal).ConfigureAwait(false);
        sessions.Seen(WebUsers.SessionId(principal)!, time.GetUtcNow() + options.Session);
        var user = WebUsers.Of(principal)!;
        await line.AuditAsync(user, user.Name, "login", "accepted", null).ConfigureAwait(false);
        context.User = principal; // the CSRF token is bound to the signed-in user from now on
        return Results.Json(Session(context, user, antiforgery.GetAndStoreTokens(context).RequestToken), WebJson.Options);
    }

    private static async Task<IResult> SignOutAsync(HttpContext context, ILineCommands line, WebSessions sessions)
    {
        if (WebUsers.Of(context.User) is { } user)
        {
            sessions.SignOut(WebUsers.SessionId(context.User)!); // the cookie ends here, a copy of it too, and the session's open streams
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme).ConfigureAwait(false);
            await line.AuditAsync(user, user.Name, "logout", "accepted", null).ConfigureAwait(false);
        }

        return Results.NoContent();
    }

    private static object Session(HttpContext context, WebUser user, string? token)
    {
        var session = context.RequestServices.GetRequiredService<WebOptions>().Session;
        var time = context.RequestServices.GetRequiredService<TimeProvider>();
        return new
        {
            user = user.Name,
            role = WebUsers.WebRole(user.Role),
            expires = time.GetUtcNow() + session,
            csrfToken = token,
        };
    }

    private static IResult Locked(HttpContext context, TimeSpan wait)
    {
        var seconds = (int)Math.Ceiling(wait.TotalSeconds);
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Results.Json(new { error = $"too many wrong passwords; try again in {seconds} s", retryAfter = seconds }, WebJson.Options, statusCode: 429);
    }

    private sealed record Login(string User, string Password);
}

/// <summary>
/// Actions need the CSRF token of this session in X-CSRF-Token (from GET /api/session), and a browser's Origin,
/// when it sends one, must be this site: a forged or missing token is a 400 and nothing runs.
/// </summary>
internal sealed class RequireCsrf(IAntiforgery antiforgery) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && !string.Equals(origin, $"{context.Request.Scheme}://{context.Request.Host}", StringComparison.OrdinalIgnoreCase))
        {
            return WebHttp.Error(400, $"the request comes from another site ({origin})");
        }

        try
        {
            await antiforgery.ValidateRequestAsync(context).ConfigureAwait(false);
        }
        catch (AntiforgeryValidationException)
        {
            return WebHttp.Error(400, "missing or invalid CSRF token; get one from GET /api/session and send it as X-CSRF-Token");
        }

        return await next(invocation).ConfigureAwait(false);
    }
}

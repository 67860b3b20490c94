using Inspection.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Inspection.Web;

/// <summary>How the worker adds the screen: its services (sink, frame tap, sessions) and its endpoints.</summary>
public static class WebModule
{
    public const string ViewerPolicy = "viewer";

    /// <summary>Pages by route: the file under wwwroot each one is.</summary>
    private static readonly (string Route, string File)[] Pages =
    [
        ("/", "index.html"), ("/camera/{id}", "camera.html"), ("/feed", "feed.html"), ("/defects", "defects.html"),
        ("/defects/{id}", "defects.html"), ("/model", "model.html"), ("/rules", "rules.html"),
    ];

    /// <summary>The web sink (as an <see cref="IResultSink"/>), the live frame tap (<see cref="IFrameTap"/>), sessions, Data Protection and antiforgery.</summary>
    public static void AddInspectionWeb(this IServiceCollection services, WebHostContext context)
    {
        var options = context.Web;
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(context);
        services.AddSingleton(options);
        services.AddSingleton(new FeedRing(options.Feed.Capacity));
        services.AddSingleton(new CameraBoard(context.Cameras));
        services.AddSingleton<ShiftCounters>();
        services.AddSingleton<SseHub>();
        services.AddSingleton<StreamGate>();
        services.AddSingleton<WebSink>();
        services.AddSingleton<IResultSink>(s => s.GetRequiredService<WebSink>());
        services.AddSingleton<LiveFrames>();
        services.AddSingleton<IFrameTap>(s => s.GetRequiredService<LiveFrames>());
        services.AddHostedService<LiveEncoder>();
        services.AddSingleton<LineState>();
        services.AddSingleton<EvidenceFiles>();
        services.AddSingleton<WebUsers>();
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<WebSessions>();
        services.AddSingleton<RegistryView>();
        services.AddSingleton<EmbeddedAssets>();

        var https = options.Url.StartsWith("https:", StringComparison.OrdinalIgnoreCase);
        Directory.CreateDirectory(options.KeysDirectory);
        services.AddDataProtection().SetApplicationName("inspection-worker").PersistKeysToFileSystem(new DirectoryInfo(options.KeysDirectory));
        services.AddAntiforgery(a =>
        {
            a.HeaderName = "X-CSRF-Token";
            a.Cookie.Name = https ? "__Host-inspection-csrf" : "inspection-csrf";
            a.Cookie.SameSite = SameSiteMode.Strict;
            a.Cookie.SecurePolicy = https ? CookieSecurePolicy.Always : CookieSecurePolicy.None;
        });
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(cookie =>
        {
            cookie.Cookie.Name = https ? "__Host-inspection" : "inspection";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = https ? CookieSecurePolicy.Always : CookieSecurePolicy.None;
            cookie.Cookie.Path = "/";
            cookie.ExpireTimeSpan = options.Session;
            cookie.SlidingExpiration = true;
            cookie.Events = new CookieAuthenticationEvents
            {
                OnCheckSlidingExpiration = sliding =>
                {
                    // Every request of a session comes by here first: the session lives as long as its cookie.
                    if (WebUsers.SessionId(sliding.Principal!) is { } session && sliding.Properties.ExpiresUtc is { } expires)
                    {
                        var time = sliding.HttpContext.RequestServices.GetRequiredService<TimeProvider>();
                        sliding.HttpContext.RequestServices.GetRequiredService<WebSessions>().Seen(session, sliding.ShouldRenew ? time.GetUtcNow() + sliding.Options.ExpireTimeSpan : expires);
                    }

                    return Task.CompletedTask;
                },
                OnValidatePrincipal = async validate =>
                {
                    var services = validate.HttpContext.RequestServices;
                    var sessions = services.GetRequiredService<WebSessions>();
                    var session = WebUsers.SessionId(validate.Principal!);
                    var usable = session is not null && !sessions.IsSignedOut(session);
                    if (usable && !services.GetRequiredService<WebUsers>().StillValid(validate.Principal!))
                    {
                        sessions.SignOut(session!); // removed, another role, or a new password: signed out, its streams too
                        usable = false;
                    }

                    if (!usable)
                    {
                        validate.RejectPrincipal();
                        await validate.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme).ConfigureAwait(false);
                    }
                },
                OnRedirectToLogin = redirect => Refuse(redirect.HttpContext, 401, "not signed in or the session expired", $"/login?return={Uri.EscapeDataString(redirect.Request.Path + redirect.Request.QueryString)}"),
                OnRedirectToAccessDenied = denied => Refuse(denied.HttpContext, 403, "your role may not do this", "/"),
            };
        });
        var localViewer = context.UsersFile is null;
        services.AddAuthorizationBuilder().AddPolicy(ViewerPolicy, policy =>
        {
            if (localViewer)
            {
                policy.RequireAssertion(_ => true); // no users file, loopback only: everyone on this host views
            }
            else
            {
                policy.RequireRole(WebUsers.OperatorRole, WebUsers.ViewerRole);
            }
        });
    }

    /// <summary>The pages and /api, every endpoint marked <see cref="WebEndpointMetadata"/> (the worker serves them on the web listener only).</summary>
    public static void MapInspectionWeb(this WebApplication app)
    {
        var web = app.MapGroup("").WithMetadata(WebEndpointMetadata.Instance).AddEndpointFilter(async (invocation, next) =>
        {
            SecurityHeaders.Apply(invocation.HttpContext);
            return await next(invocation).ConfigureAwait(false);
        });
        var assets = app.Services.GetRequiredService<EmbeddedAssets>();
        app.Services.GetRequiredService<WebSessions>(); // reads the signed-out sessions now: a damaged list stops the start, not a request
        foreach (var (route, file) in Pages)
        {
            web.MapGet(route, (HttpContext c) => assets.Serve(c, file)).RequireAuthorization(ViewerPolicy);
        }

        web.MapGet("/login", (HttpContext c) => assets.Serve(c, "login.html")).AllowAnonymous();
        web.MapGet("/assets/{**path}", (HttpContext c, string path) => assets.Serve(c, "assets/" + path)).AllowAnonymous();

        var api = web.MapGroup("/api").RequireAuthorization(ViewerPolicy);
        SessionEndpoints.Map(api);
        FeedEndpoints.Map(api);
        LiveEndpoints.Map(api);
        CommandEndpoints.Map(api);
        EvidenceEndpoints.Map(api);
        api.MapFallback(() => WebHttp.Error(404, "no such API endpoint; see docs/web.md"));
    }

    private static Task Refuse(HttpContext context, int status, string error, string page)
    {
        if (context.Request.Path.StartsWithSegments("/api"))
        {
            context.Response.StatusCode = status;
            return context.Response.WriteAsJsonAsync(new { error }, WebJson.Options);
        }

        context.Response.Redirect(page);
        return Task.CompletedTask;
    }
}

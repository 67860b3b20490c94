using Inspection.Core;
using Inspection.Web;
using Inspection.Worker.Configuration;
using Inspection.Worker.Control;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Worker;

/// <summary>
/// The line's screen on a listener of its own (Inspection:Web:Url), apart from /metrics and /health on
/// Inspection:Http:Url: each listener serves only its own endpoints, so opening the metrics port to Prometheus never
/// exposes the screen, and the screen's port never serves metrics.
/// </summary>
internal static class WebListener
{
    public static void Add(WebApplicationBuilder builder, InspectionOptions options)
    {
        var web = options.Web;
        if (!web.Enabled)
        {
            builder.WebHost.UseUrls(options.Http.Url);
            return;
        }

        builder.WebHost.UseUrls(options.Http.Url, web.Url);
        if (web.Url.StartsWith("https:", StringComparison.OrdinalIgnoreCase))
        {
            var certificate = web.LoadCertificate();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate));
        }

        var cameras = options.Cameras.Select(c => new WebCamera(c.Id, c.Mode == InspectionMode.Triggered)).ToList();
        var limits = options.Rules.CommandLimits;
        builder.Services.AddInspectionWeb(new WebHostContext(
            web, options.Evidence.Directory, options.Evidence.Enabled, options.Model.Registry, options.Model.Name,
            cameras, limits.MinConfidence, limits.MaxConfidence, options.Access.UsersFile));
        builder.Services.AddSingleton<ILineCommands>(provider => provider.GetRequiredService<CommandGate>());
    }

    public static void Map(WebApplication app, InspectionOptions options)
    {
        if (!options.Web.Enabled)
        {
            return;
        }

        var webPort = new Uri(options.Web.Url).Port;
        app.UseRouting();
        app.Use((context, next) =>
        {
            var forScreen = context.GetEndpoint()?.Metadata.GetMetadata<WebEndpointMetadata>() is not null;
            if (forScreen != (context.Connection.LocalPort == webPort))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapInspectionWeb();
    }
}

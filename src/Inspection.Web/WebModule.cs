using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Web;

/// <summary>Adds the screen to the worker's host: its services, and its pages and /api on the web listener.</summary>
public static class WebModule
{
    public static void AddInspectionWeb(this IServiceCollection services, WebHostContext context)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(context);
    }

    public static void MapInspectionWeb(this WebApplication app) => ArgumentNullException.ThrowIfNull(app);
}

using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;

namespace Inspection.Web;

/// <summary>
/// The pages, scripts and styles built into this assembly (wwwroot/**, resource names "web/PATH"). Their ETag is the
/// assembly's build id, so a browser revalidates once per build and never sees a mix of two versions.
/// </summary>
internal sealed class EmbeddedAssets
{
    private const string Prefix = "web/";
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();
    private readonly Assembly _assembly = typeof(EmbeddedAssets).Assembly;
    private readonly HashSet<string> _names;
    private readonly string _etag;

    public EmbeddedAssets()
    {
        _names = [.. _assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).Select(n => n[Prefix.Length..])];
        _etag = $"\"{_assembly.ManifestModule.ModuleVersionId:N}\"";
    }

    public bool Has(string path) => _names.Contains(path);

    /// <summary>Serves wwwroot/<paramref name="path"/>; 404 when there is no such asset (the name is looked up, never used as a file path).</summary>
    public IResult Serve(HttpContext context, string path)
    {
        if (!_names.Contains(path))
        {
            return Results.NotFound();
        }

        context.Response.Headers.ETag = _etag;
        context.Response.Headers.CacheControl = "no-cache";
        if (context.Request.Headers.IfNoneMatch == _etag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        var type = ContentTypes.TryGetContentType(path, out var known) ? known : "application/octet-stream";
        if (type.StartsWith("text/", StringComparison.Ordinal) || type is "application/javascript" or "text/javascript" or "image/svg+xml" or "application/json")
        {
            type += "; charset=utf-8";
        }

        return Results.Stream(_assembly.GetManifestResourceStream(Prefix + path)!, type);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Inspection.Web;

/// <summary>The API's conventions: errors are {"error": "..."}, request bodies are small and strictly shaped.</summary>
internal static class WebHttp
{
    public const int MaxBody = 64 * 1024;

    private static readonly JsonSerializerOptions Strict = new(JsonSerializerDefaults.Web)
    {
        MaxDepth = 16,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    public static IResult Error(int status, string message) => Results.Json(new { error = message }, WebJson.Options, statusCode: status);

    /// <summary>
    /// Reads a JSON body of at most <paramref name="maxBytes"/>: the value, or the 4xx to answer (413 too big, 400
    /// not JSON of this shape, with the parser's reason).
    /// </summary>
    public static async Task<(T? Value, IResult? Refusal)> ReadAsync<T>(HttpContext context, int maxBytes = MaxBody)
        where T : class
    {
        if (context.Request.ContentLength > maxBytes)
        {
            return (null, TooLarge(maxBytes));
        }

        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return (null, TooLarge(maxBytes));
            }

            buffer.Write(chunk, 0, read);
        }

        try
        {
            var json = buffer.Length == 0 ? "{}"u8 : buffer.GetBuffer().AsSpan(0, (int)buffer.Length); // no body: no arguments
            var value = JsonSerializer.Deserialize<T>(json, Strict);
            return value is null ? (null, Error(400, "the request body must be a JSON object")) : (value, null);
        }
        catch (JsonException e)
        {
            return (null, Error(400, $"the request body is not what this endpoint takes: {e.Message}"));
        }
    }

    private static IResult TooLarge(int maxBytes) => Error(413, $"the request body is larger than {maxBytes / 1024} KB");
}

using System.Diagnostics;
using System.Text.RegularExpressions;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Observability;

/// <summary>
/// <c>inspection-worker probe [URL] [--config FILE]</c>: asks a running worker's /health/live, for a container's
/// HEALTHCHECK where there is no curl. Without URL it reads the worker's own configuration (appsettings.json, the
/// --config or INSPECTION_CONFIG file, environment, command line) for Inspection:Http:Url. Exit 0 when healthy,
/// 1 otherwise; one line either way.
/// </summary>
public static partial class HealthProbe
{
    public const string Command = "probe";
    public const int Healthy = 0;
    public const int Unhealthy = 1;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public static async Task<int> RunAsync(string[] args)
    {
        Uri live;
        try
        {
            live = LiveUri(args is [var url, ..] && !url.StartsWith('-') ? url : ConfiguredUrl(args));
        }
        catch (Exception e) when (e is UriFormatException or Core.InspectionInputException or InvalidOperationException)
        {
            return Fail($"cannot tell where the worker listens: {e.Message}");
        }

        // Loopback needs no proxy, and a proxy from the container's environment must not answer for the worker.
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = Timeout };
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await http.GetAsync(live).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return Fail($"{live} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            Console.WriteLine($"inspection-worker probe: {live} is healthy ({(int)response.StatusCode} in {watch.ElapsedMilliseconds} ms).");
            return Healthy;
        }
        catch (TaskCanceledException)
        {
            return Fail($"{live} did not answer within {Timeout.TotalSeconds:0} s.");
        }
        catch (HttpRequestException e)
        {
            return Fail($"{live}: {e.Message}");
        }
    }

    /// <summary>
    /// The /health/live address for a worker listening on <paramref name="listenUrl"/> (Inspection:Http:Url, the first
    /// of several): Kestrel's wildcards (+, *, 0.0.0.0, [::]) listen on every address, so the probe asks 127.0.0.1.
    /// </summary>
    public static Uri LiveUri(string listenUrl)
    {
        var first = listenUrl.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
            ?? throw new UriFormatException("Inspection:Http:Url is empty.");
        var local = Wildcard().Replace(first, "${scheme}127.0.0.1");
        return new Uri(new Uri(local.TrimEnd('/') + "/"), "health/live");
    }

    /// <summary>Inspection:Http:Url as the worker reads it, from the same sources and with the same checks.</summary>
    private static string ConfiguredUrl(string[] args)
    {
        var (app, problems) = WorkerApp.Build(args);
        if (app is null)
        {
            throw new InvalidOperationException($"the worker's configuration has {problems.Count} problem(s), the first: {problems[0]}");
        }

        using (app)
        {
            return app.Services.GetRequiredService<IOptions<InspectionOptions>>().Value.Http.Url;
        }
    }

    private static int Fail(string reason)
    {
        Console.Error.WriteLine($"inspection-worker probe: unhealthy: {reason}");
        return Unhealthy;
    }

    [GeneratedRegex(@"^(?<scheme>[a-z]+://)(\+|\*|0\.0\.0\.0|\[::\])(?=[:/]|$)", RegexOptions.IgnoreCase)]
    private static partial Regex Wildcard();
}

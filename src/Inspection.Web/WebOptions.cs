using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Inspection.Core;

namespace Inspection.Web;

/// <summary>The screen's settings (section Inspection:Web, docs/web.md).</summary>
public sealed class WebOptions
{
    public const string Section = "Inspection:Web";

    public bool Enabled { get; set; } = true;

    /// <summary>Its own listener, apart from /metrics; loopback by default.</summary>
    [Required]
    public string Url { get; set; } = "http://127.0.0.1:9401";

    /// <summary>The base of evidence URLs in results; empty: <see cref="Url"/> when its host is concrete.</summary>
    public string PublicBaseUrl { get; set; } = string.Empty;

    /// <summary>Allows http on a non-loopback address (behind a TLS proxy).</summary>
    public bool AllowHttp { get; set; }

    public WebCertificateOptions Certificate { get; set; } = new();

    [Range(0.01, 24 * 30)]
    public double SessionHours { get; set; } = 8;

    [Range(1, 100)]
    public int LockoutFailures { get; set; } = 5;

    [Range(1, 24 * 60)]
    public int LockoutMinutes { get; set; } = 5;

    [Required]
    public string KeysDirectory { get; set; } = "data/web-keys";

    public WebLiveOptions Live { get; set; } = new();

    public WebFeedOptions Feed { get; set; } = new();

    /// <summary>Local times at which the shift counters restart.</summary>
    public List<string> ShiftStarts { get; set; } = ["06:00", "14:00", "22:00"];

    public WebEvidenceOptions Evidence { get; set; } = new();

    /// <summary>A folder of retraining runs; the newest */report.json is shown.</summary>
    public string RetrainReports { get; set; } = string.Empty;

    public SinkBufferOptions Buffer { get; set; } = new() { Capacity = 4096, Policy = SinkFullPolicy.DropOldest };

    /// <summary>The base URL evidence pictures are served under, or null when none is known (a wildcard listener without PublicBaseUrl).</summary>
    public string? EvidenceBaseUrl()
    {
        if (!Enabled)
        {
            return null;
        }

        if (PublicBaseUrl.Length > 0)
        {
            return PublicBaseUrl.TrimEnd('/');
        }

        return Uri.TryCreate(Url, UriKind.Absolute, out var url) && !IsWildcard(url.Host) ? url.GetLeftPart(UriPartial.Authority) : null;
    }

    /// <summary>Every problem of these settings, each naming its key.</summary>
    public IEnumerable<string> Problems()
    {
        if (!Enabled)
        {
            yield break;
        }

        if (!Uri.TryCreate(Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.AbsolutePath != "/")
        {
            yield return $"{Section}:Url: '{Url}' is not an http:// or https:// address with a host and a port (http://127.0.0.1:9401).";
            yield break;
        }

        if (PublicBaseUrl.Length > 0 && (!Uri.TryCreate(PublicBaseUrl, UriKind.Absolute, out var publicBase) || publicBase.Scheme is not ("http" or "https")))
        {
            yield return $"{Section}:PublicBaseUrl: '{PublicBaseUrl}' is not an http:// or https:// address (https://line3-ipc:9401).";
        }

        if (url.Scheme == "http" && !IsLoopback(url.Host) && !AllowHttp)
        {
            yield return $"{Section}:Url: '{Url}' is reachable from other hosts over plain http; use https with {Section}:Certificate:Path, or set {Section}:AllowHttp: true behind a TLS proxy.";
        }

        if (url.Scheme == "https" && CertificateProblem() is { } problem)
        {
            yield return problem;
        }

        foreach (var (start, i) in ShiftStarts.Select((s, i) => (s, i)))
        {
            if (!TimeOnly.TryParseExact(start, "HH:mm", out _))
            {
                yield return $"{Section}:ShiftStarts:{i}: '{start}' is not a local time as HH:mm (06:00).";
            }
        }
    }

    /// <summary>Loads the HTTPS certificate: PEM (with its key file) or PFX (with its password file).</summary>
    public X509Certificate2 LoadCertificate()
    {
        var path = Certificate.Path;
        if (Certificate.KeyPath is { Length: > 0 } key)
        {
            return X509Certificate2.CreateFromPemFile(path, key);
        }

        var password = Certificate.PasswordFile is { Length: > 0 } file ? File.ReadAllText(file).TrimEnd('\r', '\n') : null;
        return X509CertificateLoader.LoadPkcs12FromFile(path, password);
    }

    internal static bool IsWildcard(string host) => host is "0.0.0.0" or "[::]" or "::" or "*" or "+";

    internal static bool IsLoopback(string host) => host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    private string? CertificateProblem()
    {
        if (Certificate.Path is not { Length: > 0 })
        {
            return $"{Section}:Certificate:Path: an https Url needs a certificate (PEM with Certificate:KeyPath, or PFX).";
        }

        try
        {
            using var certificate = LoadCertificate();
            return certificate.NotAfter < DateTime.Now
                ? $"{Section}:Certificate:Path: the certificate '{Certificate.Path}' expired on {certificate.NotAfter:yyyy-MM-dd}; renew it."
                : null;
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or InspectionInputException)
        {
            return $"{Section}:Certificate:Path: '{Certificate.Path}' could not be loaded ({e.Message}); give a PEM certificate with KeyPath, or a PFX with PasswordFile.";
        }
    }
}

public sealed class WebCertificateOptions
{
    /// <summary>PEM or PFX.</summary>
    public string Path { get; set; } = string.Empty;

    /// <summary>The PEM certificate's key.</summary>
    public string KeyPath { get; set; } = string.Empty;

    /// <summary>A file holding the PFX's password.</summary>
    public string PasswordFile { get; set; } = string.Empty;
}

public sealed class WebLiveOptions
{
    /// <summary>Annotated frames per second per camera at most on the overview.</summary>
    [Range(0.1, 30)]
    public double Fps { get; set; } = 5;

    /// <summary>At most, for the single-camera stream.</summary>
    [Range(0.1, 60)]
    public double MaxFps { get; set; } = 15;

    [Range(64, 7680)]
    public int MaxWidth { get; set; } = 960;

    [Range(1, 100)]
    public int JpegQuality { get; set; } = 70;

    /// <summary>Concurrent MJPEG and SSE connections; more get 503.</summary>
    [Range(1, 1000)]
    public int MaxStreams { get; set; } = 16;
}

public sealed class WebFeedOptions
{
    /// <summary>Results kept for the feed.</summary>
    [Range(10, 1_000_000)]
    public int Capacity { get; set; } = 1000;
}

public sealed class WebEvidenceOptions
{
    /// <summary>Evidence JPEGs without login (HMI screens on a closed network).</summary>
    public bool AllowAnonymous { get; set; }
}

using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Inspection.Access;
using Inspection.Core;

namespace Inspection.Web;

/// <summary>The line's screen (section Inspection:Web): its own listener, loopback by default, apart from /metrics.</summary>
public sealed class WebOptions
{
    public const string Section = "Inspection:Web";

    public bool Enabled { get; set; } = true;

    /// <summary>The screen's own listener; https needs <see cref="Certificate"/>.</summary>
    public string Url { get; set; } = "http://127.0.0.1:9401";

    /// <summary>The base of evidence URLs in results (e.g. https://line3-ipc:9401); empty: <see cref="Url"/> when its host is concrete.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>Allows http on a non-loopback address (behind a TLS proxy).</summary>
    public bool AllowHttp { get; set; }

    public WebCertificateOptions Certificate { get; set; } = new();

    /// <summary>A session ends after this long without a request (sliding).</summary>
    [Range(0.01, 24 * 30)]
    public double SessionHours { get; set; } = 8;

    [Range(1, 1000)]
    public int LockoutFailures { get; set; } = 5;

    [Range(0.01, 24 * 60)]
    public double LockoutMinutes { get; set; } = 5;

    /// <summary>Data Protection keys, so sessions survive a restart.</summary>
    public string KeysDirectory { get; set; } = "data/web-keys";

    public WebLiveOptions Live { get; set; } = new();

    public WebFeedOptions Feed { get; set; } = new();

    /// <summary>Local times at which the shift counters restart.</summary>
    public string[] ShiftStarts { get; set; } = ["06:00", "14:00", "22:00"];

    public WebEvidenceOptions Evidence { get; set; } = new();

    /// <summary>A folder of retraining runs; the newest */report.json is shown on the model page.</summary>
    public string? RetrainReports { get; set; }

    /// <summary>The web sink's buffer in the fan-out: the newest state matters, so the oldest is dropped.</summary>
    public SinkBufferOptions Buffer { get; set; } = new() { Capacity = 4096, Policy = SinkFullPolicy.DropOldest };

    public TimeSpan Session => TimeSpan.FromHours(SessionHours);

    public TimeSpan Lockout => TimeSpan.FromMinutes(LockoutMinutes);

    /// <summary>
    /// What is wrong with these options, one line each (empty when nothing is). <paramref name="usersFile"/> is
    /// Access:UsersFile: a screen reachable from other hosts needs people who can sign in.
    /// </summary>
    public IReadOnlyList<string> Problems(string? usersFile = null)
    {
        var problems = new List<string>();
        if (!Enabled)
        {
            return problems;
        }

        if (!Uri.TryCreate(Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.AbsolutePath != "/")
        {
            problems.Add($"Inspection:Web:Url '{Url}' is not a listener URL; write it as http://127.0.0.1:9401 or https://HOST:PORT (scheme, host and port, no path).");
            return problems;
        }

        if (url.Scheme == "https")
        {
            problems.AddRange(CertificateProblems());
        }
        else if (!IsLoopback(url) && !AllowHttp)
        {
            problems.Add($"Inspection:Web:Url '{Url}' is reachable from other hosts over plain http; use https with Inspection:Web:Certificate:Path, or set Inspection:Web:AllowHttp=true behind a TLS proxy.");
        }

        if (!IsLoopback(url))
        {
            problems.AddRange(UsersProblems(usersFile));
        }

        if (!string.IsNullOrEmpty(PublicBaseUrl) && (!Uri.TryCreate(PublicBaseUrl, UriKind.Absolute, out var publicBase) || publicBase.Scheme is not ("http" or "https")))
        {
            problems.Add($"Inspection:Web:PublicBaseUrl '{PublicBaseUrl}' is not an http(s) URL; write it as the screen's address seen from the line, e.g. https://line3-ipc:9401.");
        }

        foreach (var start in ShiftStarts)
        {
            if (!TimeOnly.TryParseExact(start, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
            {
                problems.Add($"Inspection:Web:ShiftStarts has '{start}'; write local times as HH:mm, e.g. [\"06:00\", \"14:00\", \"22:00\"].");
            }
        }

        if (Live.Fps > Live.MaxFps)
        {
            problems.Add($"Inspection:Web:Live:Fps ({Live.Fps}) is above Live:MaxFps ({Live.MaxFps}); lower Fps or raise MaxFps.");
        }

        return problems;
    }

    /// <summary>
    /// The base of evidence URLs (no trailing '/'): a result's picture is at BASE/api/evidence/{id}.jpg. Null when
    /// there is none: the screen is off, or it listens on a wildcard address and no PublicBaseUrl is set.
    /// </summary>
    public string? EvidenceBaseUrl()
    {
        if (!Enabled)
        {
            return null;
        }

        if (!string.IsNullOrEmpty(PublicBaseUrl))
        {
            return PublicBaseUrl.TrimEnd('/');
        }

        return Uri.TryCreate(Url, UriKind.Absolute, out var url) && url.Host is not ("0.0.0.0" or "[::]" or "*" or "+") && !Url.Contains("://*", StringComparison.Ordinal) && !Url.Contains("://+", StringComparison.Ordinal)
            ? url.GetLeftPart(UriPartial.Authority)
            : null;
    }

    /// <summary>The https certificate (PEM with a key file, or PFX with an optional password file).</summary>
    public X509Certificate2 LoadCertificate()
    {
        var path = Certificate.Path ?? throw new InspectionInputException("Inspection:Web:Url is https but Inspection:Web:Certificate:Path is not set; give a PEM or PFX certificate.");
        try
        {
            var password = Certificate.PasswordFile is { } file ? File.ReadAllText(file).TrimEnd('\r', '\n') : null;
            return Certificate.KeyPath is { } key
                ? X509Certificate2.CreateFromPemFile(path, key)
                : path.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".crt", StringComparison.OrdinalIgnoreCase)
                    ? X509Certificate2.CreateFromPemFile(path)
                    : X509CertificateLoader.LoadPkcs12FromFile(path, password);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InspectionInputException($"Inspection:Web:Certificate '{path}' cannot be loaded ({e.Message}); give a PEM certificate with KeyPath, or a PFX with PasswordFile.");
        }
    }

    internal static bool IsLoopback(Uri url) =>
        url.IsLoopback || IPAddress.TryParse(url.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);

    private IEnumerable<string> CertificateProblems()
    {
        X509Certificate2 certificate;
        try
        {
            certificate = LoadCertificate();
        }
        catch (InspectionInputException e)
        {
            return [e.Message];
        }

        using (certificate)
        {
            return certificate.NotAfter < DateTime.Now
                ? [$"Inspection:Web:Certificate '{Certificate.Path}' expired on {certificate.NotAfter:yyyy-MM-dd}; renew it."]
                : [];
        }
    }

    private static IEnumerable<string> UsersProblems(string? usersFile)
    {
        const string What = "the screen is reachable from other hosts, so it needs Access:UsersFile with at least one operator or scada user";
        if (string.IsNullOrEmpty(usersFile))
        {
            return [$"{What}; add users with 'inspection broker users add NAME --role operator --file FILE'."];
        }

        try
        {
            return UsersFile.Load(usersFile).Any(u => u.Role is Role.Operator or Role.Scada && u.PasswordHash is not null)
                ? []
                : [$"{What}; '{usersFile}' has none with a password."];
        }
        catch (InspectionInputException e)
        {
            return [e.Message];
        }
    }
}

/// <summary>The screen's https certificate.</summary>
public sealed class WebCertificateOptions
{
    /// <summary>A PEM (with <see cref="KeyPath"/>) or PFX file.</summary>
    public string? Path { get; set; }

    /// <summary>The PEM private key.</summary>
    public string? KeyPath { get; set; }

    /// <summary>A file holding the PFX's password (never the password itself in configuration).</summary>
    public string? PasswordFile { get; set; }
}

/// <summary>Live frames: how often, how large, how many viewers.</summary>
public sealed class WebLiveOptions
{
    /// <summary>Annotated frames per second per camera for the overview.</summary>
    [Range(0.1, 60)]
    public double Fps { get; set; } = 5;

    /// <summary>The most a single-camera stream may ask for.</summary>
    [Range(0.1, 60)]
    public double MaxFps { get; set; } = 15;

    /// <summary>Frames are scaled down to this width (ratio kept) before JPEG.</summary>
    [Range(64, 8192)]
    public int MaxWidth { get; set; } = 960;

    [Range(10, 100)]
    public int JpegQuality { get; set; } = 70;

    /// <summary>Concurrent MJPEG and event streams; more get 503.</summary>
    [Range(1, 1000)]
    public int MaxStreams { get; set; } = 16;
}

/// <summary>The verdict feed.</summary>
public sealed class WebFeedOptions
{
    /// <summary>Results kept for the feed and /api/results.</summary>
    [Range(10, 1_000_000)]
    public int Capacity { get; set; } = 1000;
}

/// <summary>Who may fetch evidence pictures.</summary>
public sealed class WebEvidenceOptions
{
    /// <summary>Evidence JPEGs without a login (HMI screens on a closed network).</summary>
    public bool AllowAnonymous { get; set; }
}

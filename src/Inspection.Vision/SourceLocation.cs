namespace Inspection.Vision;

/// <summary>Where a camera's frames come from, after its URI was understood.</summary>
public sealed record SourceLocation(SourceKind Kind, string Target, string Display)
{
    private static readonly string[] FfmpegSchemes = ["rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "rtp", "tcp"];

    /// <summary>Works out the kind of source from the URI (unless configured) and checks what can be checked now.</summary>
    public static SourceLocation Resolve(CameraOptions options)
    {
        var uri = options.Uri.Trim();
        if (uri.Length == 0)
        {
            throw new SourceException($"Camera '{options.Id}' has no Uri.", retryable: false);
        }

        var scheme = SchemeOf(uri);
        var kind = options.Kind != SourceKind.Auto ? options.Kind : scheme switch
        {
            null when uri.StartsWith("/dev/video", StringComparison.Ordinal) => SourceKind.Device,
            "device" or "usb" or "v4l2" => SourceKind.Device,
            "http" or "https" when IsPlaylist(uri) => SourceKind.Ffmpeg,
            "http" or "https" => SourceKind.Mjpeg,
            _ when scheme is not null && FfmpegSchemes.Contains(scheme) => SourceKind.Ffmpeg,
            "file" or null => Directory.Exists(PathOf(uri)) || uri.Contains('*') || uri.Contains('?') ? SourceKind.Folder : SourceKind.File,
            _ => throw new SourceException(
                $"Camera '{options.Id}': unknown scheme '{scheme}://' in its Uri. Use rtsp://, rtsps://, rtmp://, srt://, http(s):// (MJPEG or HLS .m3u8), " +
                "a file or folder path, or a device (/dev/video0, device:0).", retryable: false),
        };

        return kind switch
        {
            SourceKind.File or SourceKind.Folder => new SourceLocation(kind, PathOf(uri), PathOf(uri)),
            SourceKind.Device => new SourceLocation(kind, DeviceOf(uri, options.Id), uri),
            _ => new SourceLocation(kind, WithCredentials(uri, options), Mask(uri)),
        };
    }

    /// <summary>A file or folder ends (unless it loops); a stream or device does not.</summary>
    public bool IsFinite => Kind is SourceKind.File or SourceKind.Folder || (Kind == SourceKind.Ffmpeg && File.Exists(Target));

    /// <summary>
    /// What is missing on disk, said for a person (<c>the file '/data/line1.mp4' does not exist</c>); null when the
    /// file or folder is there. Only local files and folders are checked: a stream or a device may come and go, and
    /// its source retries.
    /// </summary>
    public string? Missing() => Kind switch
    {
        SourceKind.File when !File.Exists(Target) => $"the file '{Target}' does not exist",
        SourceKind.Ffmpeg when SchemeOf(Target) is null && !File.Exists(Target) => $"the file '{Target}' does not exist",
        SourceKind.Folder when FolderOf(Target) is var folder && !Directory.Exists(folder) =>
            folder == Target ? $"the folder '{Target}' does not exist" : $"the folder '{folder}' of '{Target}' does not exist",
        _ => null,
    };

    /// <summary>The folder a folder source reads: the target itself, or a glob's folder up to its first wildcard.</summary>
    internal static string FolderOf(string target)
    {
        var wildcard = target.IndexOfAny(['*', '?']);
        return wildcard < 0 ? target : Path.GetDirectoryName(target[..(wildcard + 1)]) is { Length: > 0 } folder ? folder : ".";
    }

    /// <summary>The URI with any password replaced, safe for logs and messages.</summary>
    public static string Mask(string uri)
    {
        if (System.Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.UserInfo.Length > 0)
        {
            var user = parsed.UserInfo.Split(':', 2)[0];
            return new UriBuilder(parsed) { UserName = user, Password = parsed.UserInfo.Contains(':') ? "***" : string.Empty }.Uri.ToString();
        }

        return uri;
    }

    private static string? SchemeOf(string uri)
    {
        var colon = uri.IndexOf(':');
        if (colon <= 1 || uri.StartsWith('/'))
        {
            return null;
        }

        var scheme = uri[..colon];
        return scheme.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.') ? scheme.ToLowerInvariant() : null;
    }

    private static bool IsPlaylist(string uri) => uri.Split('?', 2)[0].EndsWith(".m3u8", StringComparison.OrdinalIgnoreCase);

    private static string PathOf(string uri) =>
        uri.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? System.Uri.UnescapeDataString(uri["file://".Length..]) : uri;

    private static string DeviceOf(string uri, string cameraId)
    {
        var target = uri.StartsWith("/dev/", StringComparison.Ordinal) ? uri : uri[(uri.IndexOf(':') + 1)..].TrimStart('/');
        if (target.StartsWith("dev/", StringComparison.Ordinal))
        {
            target = "/" + target;
        }

        if (!target.StartsWith("/dev/", StringComparison.Ordinal) && !int.TryParse(target, out _))
        {
            throw new SourceException($"Camera '{cameraId}': device '{uri}' is neither an index (device:0) nor a path (/dev/video0).", retryable: false);
        }

        return target;
    }

    private static string WithCredentials(string uri, CameraOptions options)
    {
        if (string.IsNullOrEmpty(options.Username) || !System.Uri.TryCreate(uri, UriKind.Absolute, out var parsed))
        {
            return uri;
        }

        return new UriBuilder(parsed) { UserName = System.Uri.EscapeDataString(options.Username), Password = System.Uri.EscapeDataString(options.Password ?? string.Empty) }.Uri.AbsoluteUri;
    }
}

using Inspection.Core;
using Microsoft.Extensions.FileSystemGlobbing;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Inspection.Vision;

/// <summary>A folder (or a glob) of images played as a camera at a set rate, in name order, optionally in a loop.</summary>
internal sealed class FolderReader(CameraOptions options, SourceLocation location, ILogger logger, CancellationToken cancel) : IFrameReader
{
    private readonly Pacer _pacer = new(cancel);
    private List<string> _files = [];
    private int _next;
    private int _played;

    public StreamInfo Open(CancellationToken cancel)
    {
        _files = List(location.Target);
        if (_files.Count == 0)
        {
            throw new SourceException($"Camera '{options.Id}': '{location.Target}' holds no images ({string.Join(", ", MediaFiles.ImageExtensions)}).", retryable: false);
        }

        using var first = Cv2.ImRead(_files[0], ImreadModes.Color);
        _pacer.Restart();
        return new StreamInfo(first.Width, first.Height, options.FolderFps, "images");
    }

    public bool Read(Mat destination)
    {
        while (NextFile() is { } path)
        {
            using var image = Cv2.ImRead(path, ImreadModes.Color);
            if (image.Empty())
            {
                logger.LogWarning("Camera {Camera}: skipped '{File}': not an image OpenCV can read.", options.Id, path);
                continue;
            }

            image.CopyTo(destination);
            return true;
        }

        return false;
    }

    public bool Skip() => NextFile() is not null;

    public void Abort()
    {
    }

    public void Dispose()
    {
    }

    private string? NextFile()
    {
        if (_next == _files.Count)
        {
            if (!options.Loop)
            {
                return null;
            }

            _next = 0;
        }

        _pacer.WaitFor(_played++ * 1000.0 / options.FolderFps);
        return _files[_next++];
    }

    private static List<string> List(string target)
    {
        if (Directory.Exists(target))
        {
            return Directory.EnumerateFiles(target)
                .Where(f => MediaFiles.IsImage(f) && !Path.GetFileName(f).StartsWith("._", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .ToList();
        }

        // A glob: the folder part up to the first wildcard, the pattern after it.
        var root = SourceLocation.FolderOf(target);
        if (!Directory.Exists(root))
        {
            return [];
        }

        var matcher = new Matcher(StringComparison.Ordinal);
        matcher.AddInclude(Path.GetRelativePath(root, target));
        return matcher.GetResultsInFullPath(root).Order(StringComparer.Ordinal).ToList();
    }
}

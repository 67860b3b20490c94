using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Inspection.Training.Data;

/// <summary>
/// Decoded training images kept in memory (Ultralytics' cache=ram): each image is decoded once per run instead of
/// once per epoch (four times per mosaic). Sized from the first image: when the whole split would take more than
/// half the memory available, it caches nothing and says so rather than exhaust the machine mid-run.
/// </summary>
public sealed class ImageCache(int images, ILogger logger) : IDisposable
{
    private readonly ConcurrentDictionary<string, Mat> _decoded = new();
    private bool? _fits;

    /// <summary>A copy of the decoded image (callers augment and dispose theirs).</summary>
    public Mat Get(string path, Func<string, Mat> decode)
    {
        if (_decoded.TryGetValue(path, out var cached))
        {
            return cached.Clone();
        }

        var image = decode(path);
        if (!image.Empty() && Fits(image) && _decoded.TryAdd(path, image.Clone()) && _decoded.Count == images)
        {
            var bytes = _decoded.Values.Sum(mat => (long)mat.Total() * mat.ElemSize());
            logger.LogInformation("Cached {Images} training images in RAM ({Gigabytes:0.00} GB).", images, bytes / 1e9);
        }

        return image;
    }

    private bool Fits(Mat first)
    {
        if (_fits is { } known)
        {
            return known;
        }

        var needed = (double)first.Total() * first.ElemSize() * images;
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        _fits = needed < available / 2.0;
        if (!_fits.Value)
        {
            logger.LogWarning("Not caching images: about {Needed:0.0} GB needed, {Available:0.0} GB available; training reads them from disk.", needed / 1e9, available / 1e9);
        }

        return _fits.Value;
    }

    public void Dispose()
    {
        foreach (var image in _decoded.Values)
        {
            image.Dispose();
        }

        _decoded.Clear();
    }
}

using System.Collections;
using Inspection.Vision;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Pipeline;

/// <summary>The configured cameras' feeds: the pipeline runs them, the trigger desk asks them for frames.</summary>
public sealed class CameraFeeds : IReadOnlyList<CameraFeed>
{
    private readonly List<CameraFeed> _feeds;
    private Action? _onReady;

    public CameraFeeds(IOptions<InspectionOptions> options, ILoggerFactory loggers)
    {
        var cameras = options.Value.Cameras;
        var share = Share(options.Value);
        var logger = loggers.CreateLogger<CameraSource>();
        foreach (var camera in cameras)
        {
            camera.MaxFramesInFlight = FramesInFlight(camera, options.Value);
        }

        _feeds = [.. cameras.Select(c => new CameraFeed(c, share, () => _onReady?.Invoke(), logger))];
    }

    /// <summary>One camera alone can fill a batch; several share it, rounded up so that their waiting frames still fill one.</summary>
    private static int Share(InspectionOptions options) =>
        (options.Batching.MaxBatchSize + options.Cameras.Count - 1) / Math.Max(1, options.Cameras.Count);

    /// <summary>
    /// The frames a camera may have out at once: as configured, or its share of every batch the detector may run at
    /// once (2 unless Model:ConcurrentBatches says otherwise) and of one more waiting to be formed, at least
    /// <see cref="CameraOptions.DefaultFramesInFlight"/>. Fewer would leave a lone camera's batches half full.
    /// </summary>
    public static int FramesInFlight(WorkerCameraOptions camera, InspectionOptions options) =>
        camera.MaxFramesInFlight ?? Math.Max(CameraOptions.DefaultFramesInFlight, Share(options) * ((options.Model.ConcurrentBatches ?? 2) + 1));

    public int Count => _feeds.Count;

    public CameraFeed this[int index] => _feeds[index];

    /// <summary>The feed of camera <paramref name="id"/>; null when there is none.</summary>
    public CameraFeed? Find(string id) => _feeds.FirstOrDefault(f => f.Id == id);

    /// <summary>Called whenever a feed has a frame ready, or ended: the batcher's wake-up.</summary>
    public void OnReady(Action onReady) => _onReady = onReady;

    public IEnumerator<CameraFeed> GetEnumerator() => _feeds.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

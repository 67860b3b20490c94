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
        var logger = loggers.CreateLogger<CameraSource>();
        foreach (var camera in cameras)
        {
            camera.MaxFramesInFlight = FramesInFlight(camera, options.Value);
        }

        _feeds = [.. cameras.Select(c => new CameraFeed(c, Waiting(options.Value), () => _onReady?.Invoke(), logger))];
    }

    /// <summary>
    /// The frames a camera may keep waiting for the batcher: its share of the batches the detector may run at once
    /// (sized before the provider is known: a GPU runs 1 where the CPU runs 2, and its batches are quick). One camera alone
    /// can fill a batch; several share it, rounded up so that their waiting frames still fill one. While every lane
    /// is busy, frames arrive for as long as a lane's batch takes: with room for one batch only, a live camera's
    /// newest frames displaced waiting ones (18% of them at 80% load) while the detector was idle a third of the time.
    /// </summary>
    private static int Waiting(InspectionOptions options) =>
        (options.Batching.MaxBatchSize + options.Cameras.Count - 1) / Math.Max(1, options.Cameras.Count) * options.Model.MostConcurrentBatches;

    /// <summary>
    /// The frames a camera may have out at once: as configured, or room for its waiting frames and as many again in
    /// the batches being inspected, at least <see cref="CameraOptions.DefaultFramesInFlight"/>.
    /// </summary>
    public static int FramesInFlight(WorkerCameraOptions camera, InspectionOptions options) =>
        camera.MaxFramesInFlight ?? Math.Max(CameraOptions.DefaultFramesInFlight, 2 * Waiting(options));

    public int Count => _feeds.Count;

    public CameraFeed this[int index] => _feeds[index];

    /// <summary>The feed of camera <paramref name="id"/>; null when there is none.</summary>
    public CameraFeed? Find(string id) => _feeds.FirstOrDefault(f => f.Id == id);

    /// <summary>Called whenever a feed has a frame ready, or ended: the batcher's wake-up.</summary>
    public void OnReady(Action onReady) => _onReady = onReady;

    public IEnumerator<CameraFeed> GetEnumerator() => _feeds.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

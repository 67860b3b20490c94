using System.Diagnostics;
using Inspection.Core;

namespace Inspection.Web;

/// <summary>The last result of a camera, for its card.</summary>
public sealed record LastResult(string Verdict, long Sequence, DateTimeOffset CaptureTime, string? PartId);

/// <summary>What the screen knows about a camera right now (its card on the live page).</summary>
public sealed record CameraView(
    string Id, string Mode, string State, string? Reason, DateTimeOffset? Since, double Fps, long Inspected, int SourceWidth, int SourceHeight,
    IReadOnlyList<string> Integrity, LastResult? Last);

/// <summary>
/// Each camera's state, inspected frames per second (a 5 s window), integrity flags and last result, as the web
/// sink sees them go by. Cameras named in the configuration are listed before their first result.
/// </summary>
public sealed class CameraBoard
{
    private static readonly long Window = Stopwatch.Frequency * 5;
    private readonly Dictionary<string, Entry> _cameras = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public CameraBoard(IEnumerable<WebCamera> cameras)
    {
        foreach (var camera in cameras)
        {
            _cameras[camera.Id] = new Entry(camera.Triggered);
        }
    }

    public bool Knows(string camera)
    {
        lock (_lock)
        {
            return _cameras.ContainsKey(camera);
        }
    }

    public void Saw(InspectionResult result, long timestamp)
    {
        lock (_lock)
        {
            var entry = EntryOf(result.CameraId);
            entry.Times.Enqueue(timestamp);
            while (entry.Times.Count > 0 && timestamp - entry.Times.Peek() > Window)
            {
                entry.Times.Dequeue();
            }

            entry.Inspected++;
            entry.Width = result.Width;
            entry.Height = result.Height;
            entry.Integrity = ResultSummary.IntegrityText(result.Integrity);
            entry.Last = new LastResult(ResultSummary.VerdictText(result.Verdict), result.Sequence, result.CaptureTime, result.PartId);
        }
    }

    public void Changed(SourceStatus status)
    {
        lock (_lock)
        {
            var entry = EntryOf(status.CameraId);
            (entry.State, entry.Reason, entry.Since) = (status.State.ToString().ToLowerInvariant(), status.Reason, status.Since);
        }
    }

    public IReadOnlyList<CameraView> Views(long now)
    {
        lock (_lock)
        {
            return [.. _cameras.Select(c => View(c.Key, c.Value, now))];
        }
    }

    private static CameraView View(string id, Entry e, long now)
    {
        var recent = e.Times.Count(t => now - t <= Window);
        var fps = Math.Round(recent / 5.0, 2);
        return new CameraView(id, e.Triggered ? "triggered" : "continuous", e.State, e.Reason, e.Since, fps, e.Inspected, e.Width, e.Height, e.Integrity, e.Last);
    }

    private Entry EntryOf(string camera)
    {
        if (!_cameras.TryGetValue(camera, out var entry))
        {
            _cameras[camera] = entry = new Entry(false);
        }

        return entry;
    }

    private sealed class Entry(bool triggered)
    {
        public bool Triggered { get; } = triggered;
        public Queue<long> Times { get; } = new();
        public long Inspected { get; set; }
        public int Width { get; set; }
        public int Height { get; set; }
        public string State { get; set; } = "connecting";
        public string? Reason { get; set; }
        public DateTimeOffset? Since { get; set; }
        public IReadOnlyList<string> Integrity { get; set; } = [];
        public LastResult? Last { get; set; }
    }
}

using System.Collections.Concurrent;
using Inspection.Core;
using Inspection.Messaging;
using Prometheus;

namespace Inspection.Worker.Observability;

/// <summary>One camera's metric series, looked up once so the per-frame path builds no label arrays.</summary>
public sealed class CameraMetrics(WorkerMetrics metrics, string camera)
{
    private static readonly FrameIntegrity[] Flags = [.. Enum.GetValues<FrameIntegrity>().Where(flag => flag != FrameIntegrity.Ok)];
    private readonly Counter.Child[] _flagged = [.. Flags.Select(flag => metrics.FramesFlagged.WithLabels(camera, flag.ToString().ToLowerInvariant()))];
    private readonly Counter.Child[] _verdicts = [.. Enum.GetValues<Verdict>().Select(v => metrics.Verdicts.WithLabels(camera, ResultJson.VerdictText(v)))];
    private readonly ConcurrentDictionary<string, Counter.Child> _defects = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Counter.Child> _triggers = new(StringComparer.Ordinal);
    private long _published;

    public Gauge.Child Triggered { get; } = metrics.CameraTriggered.WithLabels(camera);

    public Counter.Child Inspected { get; } = metrics.FramesInspected.WithLabels(camera);

    public Counter.Child Stale { get; } = metrics.FramesStale.WithLabels(camera);

    public Histogram.Child FrameAge { get; } = metrics.FrameAge.WithLabels(camera);

    public Histogram.Child CaptureToPublish { get; } = metrics.CaptureToPublish.WithLabels(camera);

    /// <summary>Results handed to the sinks for frames (not counting notices about no frame).</summary>
    public long Published => Interlocked.Read(ref _published);

    public void CountPublished() => Interlocked.Increment(ref _published);

    /// <summary>Counts each integrity flag the frame carries.</summary>
    public void CountFlags(FrameIntegrity integrity)
    {
        for (var i = 0; i < Flags.Length && integrity != FrameIntegrity.Ok; i++)
        {
            if (integrity.HasFlag(Flags[i]))
            {
                _flagged[i].Inc();
            }
        }
    }

    public Counter.Child Verdict(Verdict verdict) => _verdicts[(int)verdict];

    public Counter.Child Defect(string className) => _defects.GetOrAdd(className, name => metrics.Defects.WithLabels(camera, name));

    public Counter.Child Trigger(string outcome) => _triggers.GetOrAdd(outcome, name => metrics.Triggers.WithLabels(camera, name));
}

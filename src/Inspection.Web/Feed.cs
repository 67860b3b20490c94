using Inspection.Core;

namespace Inspection.Web;

/// <summary>One result as the screen shows it: the feed's row, an SSE "result" event, an item of /api/results.</summary>
public sealed record ResultSummary(
    long Seq, Guid Id, string Camera, long Sequence, DateTimeOffset CaptureTime, string Verdict, string? Reason, string? PartId,
    ModelRef Model, IReadOnlyList<string> Integrity, IReadOnlyList<string> Classes, TopDetection? Top, IReadOnlyList<DetectionSummary> Detections,
    ResultEvidence? Evidence)
{
    private static readonly FrameIntegrity[] IntegrityFlags = [FrameIntegrity.Frozen, FrameIntegrity.Black, FrameIntegrity.Blank, FrameIntegrity.Blurred];

    /// <param name="evidenceBaseUrl">The evidence URLs' base as results on MQTT have it (<see cref="WebOptions.EvidenceBaseUrl"/>); null: the path alone.</param>
    public static ResultSummary Of(long seq, InspectionResult result, string? evidenceBaseUrl)
    {
        var detections = result.Detections
            .Select(d => new DetectionSummary(result.ClassName(d.ClassId), Math.Round(d.Score, 4), [Math.Round(d.Box.X1, 1), Math.Round(d.Box.Y1, 1), Math.Round(d.Box.X2, 1), Math.Round(d.Box.Y2, 1)]))
            .ToArray();
        var top = detections.MaxBy(d => d.Score);
        return new ResultSummary(
            seq, result.Id, result.CameraId, result.Sequence, result.CaptureTime, VerdictText(result.Verdict), result.Reason, result.PartId,
            new ModelRef(result.ModelName, result.ModelVersion), IntegrityText(result.Integrity),
            [.. detections.Select(d => d.Class).Distinct(StringComparer.Ordinal)],
            top is null ? null : new TopDetection(top.Class, top.Score), detections,
            result.Evidence is { } evidence ? new ResultEvidence(evidence.Id, evidence.Kind, evidenceBaseUrl + EvidenceRef.PicturePath(evidence.Id)) : null);
    }

    public static string VerdictText(Verdict verdict) => verdict switch
    {
        Core.Verdict.Ok => "OK",
        Core.Verdict.Ng => "NG",
        _ => "UNKNOWN",
    };

    public static string[] IntegrityText(FrameIntegrity integrity) =>
        [.. IntegrityFlags.Where(f => integrity.HasFlag(f)).Select(f => f.ToString().ToLowerInvariant())];
}

public sealed record ModelRef(string Name, string Version);

public sealed record TopDetection(string Class, double Score);

/// <summary>
/// The evidence item the result's frame was kept as (the result's "evidence" on MQTT): its id (the review page is
/// /defects/ID), why it was kept ("ng" or "uncertain") and its picture's URL.
/// </summary>
public sealed record ResultEvidence(string Id, string Kind, string Url);

/// <summary>A detection: class name, score, box [x1, y1, x2, y2] in source pixels.</summary>
public sealed record DetectionSummary(string Class, double Score, double[] Box);

/// <summary>What a feed reader asks for: cameras, verdicts and classes (each empty = all).</summary>
public sealed record FeedFilter(IReadOnlySet<string> Cameras, IReadOnlySet<string> Verdicts, IReadOnlySet<string> Classes)
{
    public static readonly FeedFilter All = new(new HashSet<string>(), new HashSet<string>(), new HashSet<string>());

    /// <summary>From comma-separated query values (?camera=a,b&amp;verdict=NG&amp;class=crack).</summary>
    public static FeedFilter Parse(string? cameras, string? verdicts, string? classes) =>
        new(Set(cameras, StringComparer.Ordinal), Set(verdicts, StringComparer.OrdinalIgnoreCase), Set(classes, StringComparer.Ordinal));

    public bool Matches(ResultSummary result) =>
        (Cameras.Count == 0 || Cameras.Contains(result.Camera)) &&
        (Verdicts.Count == 0 || Verdicts.Contains(result.Verdict)) &&
        (Classes.Count == 0 || result.Classes.Any(Classes.Contains));

    private static HashSet<string> Set(string? values, StringComparer comparer) =>
        new((values ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), comparer);
}

/// <summary>The last results, oldest overwritten: what the feed shows on opening and what a reconnecting reader missed.</summary>
public sealed class FeedRing(int capacity)
{
    private readonly ResultSummary?[] _items = new ResultSummary?[capacity];
    private readonly Lock _lock = new();
    private long _count;

    public void Add(ResultSummary item)
    {
        lock (_lock)
        {
            _items[_count++ % _items.Length] = item;
        }
    }

    /// <summary>Newest first: up to <paramref name="limit"/> matching items with Seq below <paramref name="before"/>.</summary>
    public IReadOnlyList<ResultSummary> Before(long before, int limit, FeedFilter filter)
    {
        var page = new List<ResultSummary>(Math.Min(limit, 256));
        lock (_lock)
        {
            for (var i = _count - 1; i >= Math.Max(0, _count - _items.Length) && page.Count < limit; i--)
            {
                var item = _items[i % _items.Length]!;
                if (item.Seq < before && filter.Matches(item))
                {
                    page.Add(item);
                }
            }
        }

        return page;
    }

    /// <summary>Oldest first: the matching items with Seq above <paramref name="after"/> still kept (a reconnect's Last-Event-ID).</summary>
    public IReadOnlyList<ResultSummary> After(long after, FeedFilter filter)
    {
        lock (_lock)
        {
            var newer = new List<ResultSummary>();
            for (var i = Math.Max(0, _count - _items.Length); i < _count; i++)
            {
                var item = _items[i % _items.Length]!;
                if (item.Seq > after && filter.Matches(item))
                {
                    newer.Add(item);
                }
            }

            return newer;
        }
    }
}

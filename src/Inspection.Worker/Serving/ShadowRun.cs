using Inspection.Core;
using Inspection.Worker.Observability;
using Inspection.Worker.Pipeline;
using Inspection.Worker.Rules;
using Prometheus;

namespace Inspection.Worker.Serving;

/// <summary>
/// A candidate model inspecting a sample of live batches beside the serving model, its results compared and
/// never published: how often its verdict agrees, and how many detections match (same class, IoU at least 0.5).
/// </summary>
public sealed class ShadowRun(ServingModel candidate, double sampleRate, WorkerMetrics metrics)
{
    private readonly Counter.Child _framesMetric = metrics.ShadowFrames.WithLabels(candidate.ToString());
    private readonly Gauge.Child _verdictMetric = metrics.ShadowVerdictAgreement.WithLabels(candidate.ToString());
    private readonly Gauge.Child _detectionMetric = metrics.ShadowDetectionAgreement.WithLabels(candidate.ToString());
    private readonly List<Detection>[] _results = [.. Enumerable.Range(0, 64).Select(_ => new List<Detection>())];
    private readonly List<Detection> _kept = [];
    private long _batches;
    private long _frames;
    private long _verdictAgreements;
    private long _matched;
    private long _detections;

    public ServingModel Candidate { get; } = candidate;

    public double SampleRate { get; } = sampleRate;

    public long Frames => Interlocked.Read(ref _frames);

    /// <summary>Share of frames where the candidate's verdict equals the serving model's.</summary>
    public double VerdictAgreement => Frames == 0 ? 0 : (double)Interlocked.Read(ref _verdictAgreements) / Frames;

    /// <summary>Matched detections over all detections of either model (1 when both found nothing).</summary>
    public double DetectionAgreement => Interlocked.Read(ref _detections) == 0 ? 1 : 2.0 * Interlocked.Read(ref _matched) / Interlocked.Read(ref _detections);

    /// <summary>Whether this batch is one of the sample (every 1/rate-th batch).</summary>
    public bool Samples() => SampleRate > 0 && (Interlocked.Increment(ref _batches) - 1) % Math.Max(1, (long)Math.Round(1 / SampleRate)) == 0;

    /// <summary>
    /// Runs the candidate on the batch's frames and compares with what the serving model found. Concurrent batches
    /// compare one at a time: they share the result buffers (shadow mode samples batches, so this seldom waits).
    /// </summary>
    public void Compare(Batch batch, IReadOnlyList<string> servingNames, RuleBook.Snapshot rules, DetectionThresholds thresholds)
    {
        lock (_results)
        {
            CompareAlone(batch, servingNames, rules, thresholds);
        }
    }

    private void CompareAlone(Batch batch, IReadOnlyList<string> servingNames, RuleBook.Snapshot rules, DetectionThresholds thresholds)
    {
        var count = batch.Count;
        Candidate.Detector.Detect(batch.Images.AsSpan(0, count), _results.AsSpan(0, count), thresholds);
        for (var i = 0; i < count; i++)
        {
            var frame = batch.Items[i].Frame;
            var cameraRules = rules.Cameras[frame.CameraId];
            var serving = batch.Detections[i];
            var candidateFound = _results[i];
            Interlocked.Add(ref _matched, Matches(serving, servingNames, candidateFound, Candidate.Info.Names));
            Interlocked.Add(ref _detections, serving.Count + candidateFound.Count);
            var servingVerdict = cameraRules.Evaluate(frame.Integrity, frame.Width, frame.Height, serving, _kept).Verdict;
            var candidateVerdict = cameraRules.Evaluate(frame.Integrity, frame.Width, frame.Height, Renumbered(candidateFound, servingNames), _kept).Verdict;
            Interlocked.Increment(ref _frames);
            if (servingVerdict == candidateVerdict)
            {
                Interlocked.Increment(ref _verdictAgreements);
            }
        }

        _framesMetric.IncTo(Frames);
        _verdictMetric.Set(VerdictAgreement);
        _detectionMetric.Set(DetectionAgreement);
    }

    /// <summary>The candidate's detections with the serving model's class ids (matched by name), for the serving model's rules.</summary>
    private List<Detection> Renumbered(List<Detection> detections, IReadOnlyList<string> servingNames)
    {
        var names = Candidate.Info.Names;
        for (var i = 0; i < detections.Count; i++)
        {
            var id = IndexOf(servingNames, names[detections[i].ClassId]);
            detections[i] = detections[i] with { ClassId = id < 0 ? int.MaxValue : id };
        }

        return detections;
    }

    private static int Matches(List<Detection> a, IReadOnlyList<string> aNames, List<Detection> b, IReadOnlyList<string> bNames)
    {
        var matched = 0;
        var used = new bool[b.Count];
        foreach (var x in a)
        {
            for (var j = 0; j < b.Count; j++)
            {
                if (!used[j] && (uint)b[j].ClassId < (uint)bNames.Count && aNames[x.ClassId] == bNames[b[j].ClassId] && x.Box.IoU(b[j].Box) >= 0.5f)
                {
                    used[j] = true;
                    matched++;
                    break;
                }
            }
        }

        return matched;
    }

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == name)
            {
                return i;
            }
        }

        return -1;
    }
}

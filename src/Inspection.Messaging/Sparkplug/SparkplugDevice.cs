using Inspection.Core;
using Metric = Inspection.Messaging.Sparkplug.Protobuf.Payload.Types.Metric;

namespace Inspection.Messaging.Sparkplug;

/// <summary>
/// One camera as a Sparkplug device: its metrics with their aliases, their current values, and what was last
/// published of them. A DBIRTH declares every metric by name and alias; a DDATA carries aliases only, with the
/// per-frame metrics always and the others when they changed.
/// </summary>
internal sealed class SparkplugDevice
{
    private static readonly FrameIntegrity[] IntegrityFlags = [FrameIntegrity.Frozen, FrameIntegrity.Black, FrameIntegrity.Blank, FrameIntegrity.Blurred];
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private readonly List<Slot> _order = [];
    private IReadOnlyList<string> _classes = [];
    private ulong _total;
    private ulong _ok;
    private ulong _ng;
    private ulong _unknown;
    private ulong[] _defectTotals = [];
    private int[] _defectsInFrame = [];
    private long _windowStart = Environment.TickCount64;
    private int _windowFrames;
    private int _declared;
    private readonly string _id;
    private readonly Func<ulong> _nextAlias;

    /// <summary>Declares every metric that does not depend on the model's classes, so the first DBIRTH has them all.</summary>
    public SparkplugDevice(string id, Func<ulong> nextAlias)
    {
        (_id, _nextAlias) = (id, nextAlias);
        var now = Now();
        SetState(SourceState.Connecting);
        Set("Camera/Frames Per Second", DataType.Double, 0.0, now);
        Set("Inspection/Sequence", DataType.UInt64, 0ul, now, perFrame: true);
        Set("Inspection/Verdict", DataType.String, ResultJson.VerdictText(Verdict.Unknown), now, perFrame: true);
        Set("Inspection/Inference Ms", DataType.Double, 0.0, now, perFrame: true);
        Set("Inspection/Reason", DataType.String, string.Empty, now);
        Set("Inspection/Part Id", DataType.String, string.Empty, now);
        foreach (var flag in IntegrityFlags)
        {
            Set($"Inspection/Integrity/{flag}", DataType.Boolean, false, now);
        }

        foreach (var total in Totals)
        {
            Set(total, DataType.UInt64, 0ul, now);
        }

        Set("Model/Name", DataType.String, string.Empty, now);
        Set("Model/Version", DataType.String, string.Empty, now);
        foreach (var slot in _order)
        {
            slot.Fresh = false;
        }
    }

    private static readonly string[] Totals = ["Totals/Frames", "Totals/OK", "Totals/NG", "Totals/Unknown"];

    public string Id => _id;

    /// <summary>Metrics appeared that its last DBIRTH did not declare (a model with other classes): it needs a new DBIRTH.</summary>
    public bool HasUndeclared => _declared < _order.Count;

    /// <summary>The camera delivers frames: it has a DBIRTH in a live session, and a DDEATH when it stops.</summary>
    public bool Alive { get; set; }

    /// <summary>Its DBIRTH went out in the current session.</summary>
    public bool Born { get; set; }

    public void SetState(SourceState state) => Set("Camera/State", DataType.String, state.ToString().ToLowerInvariant(), Now());

    /// <summary>Takes a result's values.</summary>
    public void Apply(InspectionResult result)
    {
        if (!_classes.SequenceEqual(result.ClassNames, StringComparer.Ordinal))
        {
            UseClasses(result.ClassNames);
        }

        var at = (ulong)result.CaptureTime.ToUnixTimeMilliseconds();
        Array.Clear(_defectsInFrame);
        foreach (var detection in result.Detections)
        {
            if ((uint)detection.ClassId < (uint)_defectsInFrame.Length)
            {
                _defectsInFrame[detection.ClassId]++;
                _defectTotals[detection.ClassId]++;
            }
        }

        _total++;
        switch (result.Verdict)
        {
            case Verdict.Ok: _ok++; break;
            case Verdict.Ng: _ng++; break;
            default: _unknown++; break;
        }

        Set("Inspection/Sequence", DataType.UInt64, (ulong)result.Sequence, at, perFrame: true);
        Set("Inspection/Verdict", DataType.String, ResultJson.VerdictText(result.Verdict), at, perFrame: true);
        Set("Inspection/Inference Ms", DataType.Double, Math.Round(result.InferenceLatency.TotalMilliseconds, 2), at, perFrame: true);
        Set("Inspection/Reason", DataType.String, result.Reason ?? string.Empty, at);
        Set("Inspection/Part Id", DataType.String, result.PartId ?? string.Empty, at);
        foreach (var flag in IntegrityFlags)
        {
            Set($"Inspection/Integrity/{flag}", DataType.Boolean, result.Integrity.HasFlag(flag), at);
        }

        for (var i = 0; i < _classes.Count; i++)
        {
            Set($"Inspection/Defects/{_classes[i]}", DataType.UInt32, (uint)_defectsInFrame[i], at);
            Set($"Totals/Defects/{_classes[i]}", DataType.UInt64, _defectTotals[i], at);
        }

        Set(Totals[0], DataType.UInt64, _total, at);
        Set(Totals[1], DataType.UInt64, _ok, at);
        Set(Totals[2], DataType.UInt64, _ng, at);
        Set(Totals[3], DataType.UInt64, _unknown, at);
        Set("Model/Name", DataType.String, result.ModelName, at);
        Set("Model/Version", DataType.String, result.ModelVersion, at);
        if (result.Sequence > 0)
        {
            CountFrame();
        }
    }

    /// <summary>Every metric with its name and alias, for a DBIRTH; marks them published.</summary>
    public List<Metric> Birth()
    {
        _declared = _order.Count;
        var metrics = new List<Metric>(_order.Count);
        foreach (var slot in _order)
        {
            (slot.Published, slot.Fresh) = (slot.Value, false);
            metrics.Add(slot.ToMetric(withName: true));
        }

        return metrics;
    }

    /// <summary>The per-frame metrics and those that changed since the last publication, by alias only, for a DDATA.</summary>
    public List<Metric> Changes(bool withPerFrame)
    {
        var metrics = new List<Metric>();
        foreach (var slot in _order)
        {
            if ((withPerFrame && slot.PerFrame && slot.Fresh) || !Equals(slot.Value, slot.Published))
            {
                (slot.Published, slot.Fresh) = (slot.Value, false);
                metrics.Add(slot.ToMetric(withName: false));
            }
        }

        return metrics;
    }

    private void UseClasses(IReadOnlyList<string> classes)
    {
        _classes = [.. classes];
        var totals = new ulong[classes.Count];
        foreach (var (name, i) in classes.Select((n, i) => (n, i)))
        {
            totals[i] = _slots.TryGetValue($"Totals/Defects/{name}", out var kept) ? (ulong)kept.Value! : 0;
        }

        _defectTotals = totals;
        _defectsInFrame = new int[classes.Count];
    }

    /// <summary>Inspected frames per second, over windows of at least a second.</summary>
    private void CountFrame()
    {
        _windowFrames++;
        var now = Environment.TickCount64;
        if (now - _windowStart >= 1000)
        {
            Set("Camera/Frames Per Second", DataType.Double, Math.Round(_windowFrames * 1000.0 / (now - _windowStart), 2), Now());
            (_windowStart, _windowFrames) = (now, 0);
        }
    }

    private void Set(string name, DataType type, object value, ulong timestamp, bool perFrame = false)
    {
        if (!_slots.TryGetValue(name, out var slot))
        {
            _slots[name] = slot = new Slot(name, _nextAlias(), type, perFrame);
            _order.Add(slot);
        }

        (slot.Value, slot.Timestamp, slot.Fresh) = (value, timestamp, true);
    }

    private static ulong Now() => SparkplugSink.Now();

    private sealed class Slot(string name, ulong alias, DataType type, bool perFrame)
    {
        public bool PerFrame => perFrame;

        public object? Value { get; set; }

        public object? Published { get; set; }

        public ulong Timestamp { get; set; }

        /// <summary>Set since the last DDATA: a per-frame metric goes out even when its value repeats.</summary>
        public bool Fresh { get; set; }

        public Metric ToMetric(bool withName)
        {
            var metric = new Metric { Alias = alias, Timestamp = Timestamp, Datatype = (uint)type };
            if (withName)
            {
                metric.Name = name;
            }

            switch (Value)
            {
                case string s: metric.StringValue = s; break;
                case double d: metric.DoubleValue = d; break;
                case ulong u: metric.LongValue = u; break;
                case uint i: metric.IntValue = i; break;
                case bool b: metric.BooleanValue = b; break;
                default: metric.IsNull = true; break;
            }

            return metric;
        }
    }
}

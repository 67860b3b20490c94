using Metric = Inspection.Messaging.Sparkplug.Protobuf.Payload.Types.Metric;

namespace Inspection.Messaging.Sparkplug;

/// <summary>One camera's Sparkplug metrics, and what was last published of them, for report by exception.</summary>
internal sealed class DeviceMetrics(string id)
{
    private Dictionary<string, object> _published = [];

    public string Id => id;

    public bool Born { get; private set; }

    public string State { get; set; } = "connecting";

    public double FramesPerSecond { get; set; }

    public string LastVerdict { get; set; } = "UNKNOWN";

    public ulong Frames { get; set; }

    public ulong NgCount { get; set; }

    public string ModelVersion { get; set; } = string.Empty;

    public Dictionary<string, ulong> DefectsByClass { get; } = new(StringComparer.Ordinal);

    /// <summary>Every metric, for a DBIRTH.</summary>
    public List<Metric> All() => Values().Select(kv => ToMetric(kv.Key, kv.Value)).ToList();

    /// <summary>The metrics whose values differ from the last published ones, for a DDATA.</summary>
    public List<Metric> Changed() =>
        Values().Where(kv => !_published.TryGetValue(kv.Key, out var old) || !old.Equals(kv.Value)).Select(kv => ToMetric(kv.Key, kv.Value)).ToList();

    public void MarkPublished()
    {
        _published = Values().ToDictionary(kv => kv.Key, kv => kv.Value);
        Born = true;
    }

    private IEnumerable<KeyValuePair<string, object>> Values()
    {
        yield return new("Camera/State", State);
        yield return new("Camera/Frames Per Second", FramesPerSecond);
        yield return new("Inspection/Last Verdict", LastVerdict);
        yield return new("Inspection/Frames", Frames);
        yield return new("Inspection/NG Count", NgCount);
        yield return new("Model/Version", ModelVersion);
        foreach (var (name, count) in DefectsByClass.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            yield return new($"Inspection/Defects/{name}", count);
        }
    }

    private static Metric ToMetric(string name, object value)
    {
        var metric = new Metric { Name = name, Timestamp = SparkplugEdgeNode.Now() };
        switch (value)
        {
            case string s:
                (metric.Datatype, metric.StringValue) = ((uint)DataType.String, s);
                break;
            case double d:
                (metric.Datatype, metric.DoubleValue) = ((uint)DataType.Double, d);
                break;
            case ulong u:
                (metric.Datatype, metric.LongValue) = ((uint)DataType.UInt64, u);
                break;
        }

        return metric;
    }
}

namespace Inspection.Core;

/// <summary>How a detector's raw output is laid out; the engine decodes each one to the same detections.</summary>
public enum OutputLayout
{
    /// <summary>Ultralytics YOLOv8 / YOLO11 / YOLOv5u / v9 / v12: [B, 4 + classes, anchors] of cx, cy, w, h, class scores.</summary>
    AnchorFree,

    /// <summary>YOLOv5 / YOLOv7 classic: [B, anchors, 5 + classes] of cx, cy, w, h, objectness, class scores.</summary>
    Objectness,

    /// <summary>End-to-end (YOLOv10, YOLO26, exported with NMS): [B, K, 6] of x1, y1, x2, y2, score, class.</summary>
    EndToEnd,
}

/// <summary>What the engine knows about a loaded detection model.</summary>
public sealed record ModelInfo
{
    /// <summary>A short name for logs and results: the file name without extension unless the model names itself.</summary>
    public required string Name { get; init; }

    /// <summary>Version from the model's metadata, or a hash of the file when it has none.</summary>
    public required string Version { get; init; }

    /// <summary>Class names, indexed by class id.</summary>
    public required IReadOnlyList<string> Names { get; init; }

    public required int InputWidth { get; init; }
    public required int InputHeight { get; init; }

    /// <summary>The largest stride of the detection head (32 for the usual P3-P5 heads).</summary>
    public required int Stride { get; init; }

    /// <summary>The batch size the model was exported with, or null when its batch dimension is dynamic.</summary>
    public int? FixedBatch { get; init; }

    public required OutputLayout Layout { get; init; }

    /// <summary>The name of class <paramref name="classId"/>, or its number when the model has no name for it.</summary>
    public string ClassName(int classId) =>
        (uint)classId < (uint)Names.Count ? Names[classId] : classId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

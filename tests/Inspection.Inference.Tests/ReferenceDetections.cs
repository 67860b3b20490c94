using System.Text.Json;
using Inspection.Core;
using Inspection.TestSupport;

namespace Inspection.Inference.Tests;

/// <summary>A shared model's reference-detections.json: what Ultralytics or YOLOv5 gave on a few images.</summary>
internal sealed record ReferenceDetections(string ModelPath, float Confidence, float IoU, IReadOnlyDictionary<string, IReadOnlyList<(string Class, float Score, BoundingBox Box)>> Images)
{
    public static ReferenceDetections Load(string modelFolder)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(SharedData.Require(Path.Combine(modelFolder, "reference-detections.json"))));
        var root = json.RootElement;
        var images = new Dictionary<string, IReadOnlyList<(string, float, BoundingBox)>>();
        foreach (var image in root.GetProperty("images").EnumerateObject())
        {
            images[image.Name] = image.Value.EnumerateArray().Select(d =>
            {
                var xyxy = d.GetProperty("xyxy").EnumerateArray().Select(v => v.GetSingle()).ToArray();
                return (d.GetProperty("cls").GetString()!, d.GetProperty("score").GetSingle(), new BoundingBox(xyxy[0], xyxy[1], xyxy[2], xyxy[3]));
            }).ToList();
        }

        return new ReferenceDetections(
            SharedData.Require(root.GetProperty("model").GetString()!), root.GetProperty("conf").GetSingle(), root.GetProperty("iou").GetSingle(), images);
    }

    /// <summary>
    /// Every reference detection is found (same class, IoU >= 0.9, score within 0.03) and nothing else above 0.3 is.
    /// Returns a description of each mismatch; empty when the detections agree.
    /// </summary>
    public static List<string> Compare(IReadOnlyList<(string Class, float Score, BoundingBox Box)> expected, IReadOnlyList<Detection> actual, ModelInfo model)
    {
        var problems = new List<string>();
        var matched = new bool[actual.Count];
        foreach (var e in expected)
        {
            var best = -1;
            for (var i = 0; i < actual.Count; i++)
            {
                if (!matched[i] && model.ClassName(actual[i].ClassId) == e.Class && actual[i].Box.IoU(e.Box) >= 0.9f && Math.Abs(actual[i].Score - e.Score) <= 0.03f)
                {
                    best = i;
                    break;
                }
            }

            if (best < 0)
            {
                problems.Add($"missing {e.Class} {e.Score:0.000} {e.Box}");
            }
            else
            {
                matched[best] = true;
            }
        }

        for (var i = 0; i < actual.Count; i++)
        {
            if (!matched[i] && actual[i].Score > 0.3f)
            {
                problems.Add($"extra {model.ClassName(actual[i].ClassId)} {actual[i].Score:0.000} {actual[i].Box}");
            }
        }

        return problems;
    }
}

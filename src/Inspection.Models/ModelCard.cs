using System.Text.Json.Serialization;

namespace Inspection.Models;

/// <summary>What the registry knows of one version (model.json): where it came from and how good it was.</summary>
public sealed record ModelCard
{
    public required string Name { get; init; }

    public required int Version { get; init; }

    /// <summary>SHA-256 of model.onnx, checked before the file is loaded.</summary>
    public required string Sha256 { get; init; }

    public required DateTimeOffset Created { get; init; }

    /// <summary>The version this one was fine-tuned from; null for a model trained from scratch or imported.</summary>
    public int? Parent { get; init; }

    /// <summary>The model's class names, by class id.</summary>
    public required IReadOnlyList<string> Classes { get; init; }

    public int ImageSize { get; init; }

    /// <summary>Figures on its validation (holdout) set: mAP50, mAP50_95, precision, recall.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>A hash of the file names and labels it was trained on, to tell datasets apart.</summary>
    public string? DatasetFingerprint { get; init; }

    public IReadOnlyDictionary<string, string> TrainingArguments { get; init; } = new Dictionary<string, string>();

    /// <summary>The training checkpoint beside the model (weights for fine-tuning), when there is one.</summary>
    public string? Checkpoint { get; init; }

    [JsonIgnore]
    public double? MAP50 => Metrics.TryGetValue("mAP50", out var v) ? v : null;
}

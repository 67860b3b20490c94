using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Inspection.Core;
using Inspection.Datasets;
using Inspection.Inference;
using Inspection.Models;
using Inspection.Training;
using Inspection.Training.Engine;
using Inspection.Training.Export;
using Inspection.Training.Nn;
using Inspection.Training.Utils;
using Microsoft.Extensions.Logging;

namespace Inspection.Retraining;

/// <summary>What one retraining run is told.</summary>
public sealed record RetrainOptions
{
    /// <summary>The registry and the model in it to retrain; its current version is the starting point.</summary>
    public required string Registry { get; init; }

    public required string Name { get; init; }

    /// <summary>The base dataset (any format the loader reads).</summary>
    public required string Data { get; init; }

    /// <summary>Runs go to a dated folder below this one.</summary>
    public required string Output { get; init; }

    /// <summary>The worker's evidence folder; its reviewed items are always used.</summary>
    public string? Evidence { get; init; }

    /// <summary>Also use items not reviewed yet, labelled with the model's own detections scoring at least this.</summary>
    public double? PseudoLabelsAbove { get; init; }

    /// <summary>A dataset whose val split is the fixed holdout; the base dataset's val split by default.</summary>
    public string? Holdout { get; init; }

    public int Epochs { get; init; } = 10;

    public int Batch { get; init; } = 16;

    public string Device { get; init; } = "auto";

    /// <summary>The new version is promoted when its fitness is at least the current one's less this.</summary>
    public double Margin { get; init; }

    public string Optimizer { get; init; } = "auto";

    public double? Lr0 { get; init; }

    public double WarmupEpochs { get; init; } = 3;

    /// <summary>Gradients are accumulated up to this many images per optimiser step (Ultralytics' nbs).</summary>
    public int NominalBatch { get; init; } = 64;

    public int Seed { get; init; }

    /// <summary>Holdout images recorded as the new version's golden set.</summary>
    public int GoldenImages { get; init; } = 4;

    /// <summary>
    /// A private key file (PKCS#8 PEM from 'inspection models keygen'): the run signs the version it registers, and
    /// fine-tunes only from a current version that this key signed, so an unsigned checkpoint never turns into a
    /// signed model.
    /// </summary>
    public string? SignKey { get; init; }
}

/// <summary>Figures of one model on the holdout.</summary>
public sealed record HoldoutScores(int Version, double MAP50, double MAP50To95, double Precision, double Recall, double Fitness)
{
    public static HoldoutScores Of(int version, DetectionScores s) => new(version, Math.Round(s.MAP50, 4), Math.Round(s.MAP50To95, 4), Math.Round(s.Precision, 4), Math.Round(s.Recall, 4), Math.Round(s.Fitness, 4));
}

/// <summary>What a run did, written as report.json and report.md in its folder.</summary>
public sealed record RetrainReport
{
    public required string Name { get; init; }
    public required string RunFolder { get; init; }
    public required DateTimeOffset Started { get; init; }
    public required TimeSpan Duration { get; init; }
    public required int BaseImages { get; init; }
    public required int ReviewedImages { get; init; }
    public required int PseudoLabelledImages { get; init; }
    public required int HoldoutImages { get; init; }
    public required HoldoutScores Current { get; init; }
    public required HoldoutScores Candidate { get; init; }
    public required bool Promoted { get; init; }
    public required string Decision { get; init; }
    public required string DatasetFingerprint { get; init; }

    /// <summary>The id of the key that signed the new version; null when the run did not sign.</summary>
    public string? SignedBy { get; init; }
}

/// <summary>The steps of a retraining run, in order.</summary>
public enum RetrainPhase
{
    /// <summary>Base dataset, reviewed and pseudo-labelled evidence into one training set.</summary>
    Merge,

    /// <summary>Fine-tuning: its epochs come through the training progress.</summary>
    Train,

    /// <summary>The new model to ONNX.</summary>
    Export,

    /// <summary>The current and the new model on the holdout, both as ONNX through the engine.</summary>
    Evaluate,

    /// <summary>Golden set, registration, signature, promotion.</summary>
    Register,
}

/// <summary>
/// One retraining run: merge the reviewed evidence (and, when allowed, confident pseudo-labels) into the base
/// dataset, fine-tune from the current version's checkpoint, measure the current and the new model on the same
/// fixed holdout, register the new version (ONNX, checkpoint, golden set, card) and promote it only when it is
/// not worse by more than the margin. Runs of one model never overlap: they take a <see cref="RunLock"/> in the registry.
/// </summary>
public sealed class Retrainer(RetrainOptions options, ILogger logger, Action<TrainingProgress>? progress = null, Action<RetrainPhase>? phase = null)
{
    public const string LockFile = ".retrain.lock";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public async Task<RetrainReport> RunAsync(CancellationToken cancel = default)
    {
        var registry = new ModelRegistry(options.Registry);
        var current = registry.Current(options.Name) ?? throw new InspectionInputException($"'{options.Name}' has no current version in {registry.Root} to retrain from; register and promote one first.");
        var checkpoint = current.CheckpointPath ?? throw new InspectionInputException($"{options.Name} version {current.Version} has no training checkpoint to fine-tune from (register it with --weights).");
        using var signer = options.SignKey is { } key ? SigningKeys.LoadPrivateKey(key) : null;
        if (signer is not null)
        {
            ModelSignature.Verify(current, signer); // before hours of training, and never from an unsigned checkpoint
        }

        using var runLock = RunLock.Acquire(Path.Combine(registry.Root, options.Name, LockFile), $"retraining run of '{options.Name}'");

        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var run = Directory.CreateDirectory(Path.Combine(options.Output, $"{options.Name}-{started:yyyyMMdd-HHmmss}")).FullName;
        logger.LogInformation("Retraining {Name} from version {Version} in {Run}.", options.Name, current.Version, run);

        phase?.Invoke(RetrainPhase.Merge);
        var merged = Merge(current.Card.Classes, run);
        var (scale, _, imageSize) = Checkpoint.ReadDescription(checkpoint);
        var train = new TrainOptions
        {
            Data = merged.DataYaml,
            Output = Path.Combine(run, "train"),
            Scale = scale.Name,
            Weights = checkpoint,
            Epochs = options.Epochs,
            ImageSize = imageSize,
            Batch = options.Batch,
            Device = options.Device,
            Optimizer = options.Optimizer,
            Lr0 = options.Lr0 ?? new TrainOptions { Data = string.Empty, Output = string.Empty }.Lr0,
            Seed = options.Seed,
            WarmupEpochs = options.WarmupEpochs,
            NominalBatch = options.NominalBatch,
        };
        phase?.Invoke(RetrainPhase.Train);
        new Trainer(train, logger, progress).Train(cancel);
        // The run's final averaged weights, not its best epoch: the best epoch was chosen on this same holdout,
        // which would favour the candidate in the comparison below.
        var candidateWeights = Path.Combine(train.Output, "weights", Trainer.LastWeights);

        phase?.Invoke(RetrainPhase.Export);
        var onnx = Path.Combine(run, "model.onnx");
        using (var model = new DetectionModel(scale, current.Card.Classes))
        {
            model.load(candidateWeights);
            OnnxExporter.Export(model, imageSize, onnx, version: options.Name);
        }

        // Both measured as they would serve: each ONNX model through the engine, on the same holdout.
        phase?.Invoke(RetrainPhase.Evaluate);
        var holdout = merged.Holdout;
        var currentScores = HoldoutScores.Of(current.Version, await EvaluateAsync(current.ModelPath, holdout).ConfigureAwait(false));
        var candidateScores = await EvaluateAsync(onnx, holdout).ConfigureAwait(false);

        phase?.Invoke(RetrainPhase.Register);
        var golden = await RecordGoldenAsync(onnx, holdout).ConfigureAwait(false);
        var registered = registry.Register(options.Name, onnx, new ModelCard
        {
            Name = options.Name,
            Version = 0,
            Sha256 = string.Empty,
            Created = DateTimeOffset.UtcNow,
            Parent = current.Version,
            Classes = current.Card.Classes,
            ImageSize = imageSize,
            Metrics = new Dictionary<string, double>
            {
                ["mAP50"] = Math.Round(candidateScores.MAP50, 4),
                ["mAP50_95"] = Math.Round(candidateScores.MAP50To95, 4),
                ["precision"] = Math.Round(candidateScores.Precision, 4),
                ["recall"] = Math.Round(candidateScores.Recall, 4),
            },
            DatasetFingerprint = merged.Fingerprint,
            TrainingArguments = new Dictionary<string, string>
            {
                ["data"] = options.Data,
                ["evidence"] = options.Evidence ?? string.Empty,
                ["pseudoLabelsAbove"] = options.PseudoLabelsAbove?.ToString(CultureInfo.InvariantCulture) ?? string.Empty,
                ["epochs"] = options.Epochs.ToString(CultureInfo.InvariantCulture),
                ["imgsz"] = imageSize.ToString(CultureInfo.InvariantCulture),
                ["batch"] = options.Batch.ToString(CultureInfo.InvariantCulture),
                ["from"] = current.Version.ToString(CultureInfo.InvariantCulture),
            },
        }, candidateWeights, folder => GoldenSet.Create(folder, golden));
        if (signer is not null)
        {
            ModelSignature.Sign(registered, signer);
        }

        var candidate = HoldoutScores.Of(registered.Version, candidateScores);
        var required = currentScores.Fitness - options.Margin;
        var promoted = candidate.Fitness >= required;
        var decision = promoted
            ? string.Create(CultureInfo.InvariantCulture, $"promoted: fitness {candidate.Fitness:0.0000} on the holdout is at least version {current.Version}'s {currentScores.Fitness:0.0000} less the margin {options.Margin:0.0000}")
            : string.Create(CultureInfo.InvariantCulture, $"not promoted: fitness {candidate.Fitness:0.0000} on the holdout is below version {current.Version}'s {currentScores.Fitness:0.0000} less the margin {options.Margin:0.0000}; version {current.Version} stays current");
        if (promoted)
        {
            registry.Promote(options.Name, registered.Version, $"retrained from {current.Version}");
        }

        var report = new RetrainReport
        {
            Name = options.Name,
            RunFolder = run,
            Started = started,
            Duration = clock.Elapsed,
            BaseImages = merged.BaseImages,
            ReviewedImages = merged.ReviewedImages,
            PseudoLabelledImages = merged.PseudoImages,
            HoldoutImages = holdout.Images.Count,
            Current = currentScores,
            Candidate = candidate,
            Promoted = promoted,
            Decision = decision,
            DatasetFingerprint = merged.Fingerprint,
            SignedBy = signer is null ? null : SigningKeys.KeyId(signer),
        };
        Write(report);
        logger.LogInformation("Retraining {Name}: version {Version} registered; {Decision}.", options.Name, registered.Version, decision);
        return report;
    }

    private async Task<DetectionScores> EvaluateAsync(string onnx, DatasetSplit holdout)
    {
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = onnx, ConcurrentBatches = 1 }.On(DeviceChoice.Parse(options.Device)));
        return Validator.Evaluate(detector, holdout, options.Batch);
    }

    private async Task<List<(string ImagePath, IReadOnlyList<GoldenDetection> Detections)>> RecordGoldenAsync(string onnx, DatasetSplit holdout)
    {
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = onnx, Providers = [ExecutionProvider.Cpu], ConcurrentBatches = 1 });
        return [.. holdout.Images.Take(options.GoldenImages).Select(i => (i.ImagePath, GoldenCheck.Detect(detector, i.ImagePath)))];
    }

    private void Write(RetrainReport report)
    {
        File.WriteAllText(Path.Combine(report.RunFolder, "report.json"), JsonSerializer.Serialize(report, Json));
        var md = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"# Retraining {report.Name}, {report.Started:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"**{report.Decision}.**")
            .AppendLine()
            .AppendLine("| | version | mAP50 | mAP50-95 | precision | recall | fitness |")
            .AppendLine("|---|---|---|---|---|---|---|")
            .AppendLine(CultureInfo.InvariantCulture, $"| before | {report.Current.Version} | {report.Current.MAP50:0.000} | {report.Current.MAP50To95:0.000} | {report.Current.Precision:0.000} | {report.Current.Recall:0.000} | {report.Current.Fitness:0.0000} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| after | {report.Candidate.Version} | {report.Candidate.MAP50:0.000} | {report.Candidate.MAP50To95:0.000} | {report.Candidate.Precision:0.000} | {report.Candidate.Recall:0.000} | {report.Candidate.Fitness:0.0000} |")
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Data: {report.BaseImages} base images, {report.ReviewedImages} reviewed evidence images, {report.PseudoLabelledImages} pseudo-labelled; holdout {report.HoldoutImages} images (fingerprint {report.DatasetFingerprint[..12]}). Took {report.Duration.TotalMinutes:0.0} min.")
            .AppendLine()
            .AppendLine(report.SignedBy is { } keyId ? $"Version {report.Candidate.Version} is signed by key {keyId}." : $"Version {report.Candidate.Version} is not signed.");
        File.WriteAllText(Path.Combine(report.RunFolder, "report.md"), md.ToString());
    }

    private sealed record MergedDataset(string DataYaml, DatasetSplit Holdout, int BaseImages, int ReviewedImages, int PseudoImages, string Fingerprint);

    /// <summary>
    /// The training set as one YOLO dataset in the run folder: the base training images (any format, labels
    /// rewritten), reviewed evidence, and confident pseudo-labels when allowed; the holdout beside it.
    /// </summary>
    private MergedDataset Merge(IReadOnlyList<string> classes, string run)
    {
        var data = new YoloDatasetWriter(Path.Combine(run, "data"));
        var baseSet = DatasetLoader.Load(options.Data);
        if (!baseSet.Names.SequenceEqual(classes))
        {
            throw new InspectionInputException($"The dataset '{options.Data}' has classes {string.Join(", ", baseSet.Names)}; the model {string.Join(", ", classes)}.");
        }

        var holdoutSet = options.Holdout is null ? baseSet : DatasetLoader.Load(options.Holdout);
        var holdout = holdoutSet.Splits.GetValueOrDefault("val") is { Images.Count: > 0 } val ? val
            : throw new InspectionInputException($"'{options.Holdout ?? options.Data}' has no val split to hold out.");

        var fingerprint = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var trainList = new List<string>();
        var baseImages = baseSet.Splits.GetValueOrDefault("train")?.Images ?? [];
        foreach (var (image, i) in baseImages.Select((image, i) => (image, i)))
        {
            trainList.Add(Place(data, "train", $"b{i:000000}", image, fingerprint));
        }

        var (reviewed, pseudo) = (0, 0);
        if (options.Evidence is { } evidence)
        {
            var review = new EvidenceReview(evidence);
            foreach (var image in review.Reviewed())
            {
                trainList.Add(Place(data, "train", $"r{reviewed++:000000}", image, fingerprint));
            }

            if (options.PseudoLabelsAbove is { } threshold)
            {
                foreach (var image in review.PseudoLabelled(classes, threshold))
                {
                    trainList.Add(Place(data, "train", $"p{pseudo++:000000}", image, fingerprint));
                }
            }
        }

        var holdoutList = holdout.Images.Select((image, i) => Place(data, "holdout", $"h{i:000000}", image, null)).ToList();
        File.WriteAllLines(Path.Combine(data.Root, "train.txt"), trainList);
        File.WriteAllLines(Path.Combine(data.Root, "holdout.txt"), holdoutList);
        data.WriteDataYaml(classes, "train.txt", "holdout.txt", $"Retraining data of '{options.Name}': base, reviewed and pseudo-labelled images; the holdout is never trained on.");
        logger.LogInformation("Training data: {Base} base images, {Reviewed} reviewed and {Pseudo} pseudo-labelled evidence images; holdout {Holdout} images.", baseImages.Count, reviewed, pseudo, holdout.Images.Count);
        return new MergedDataset(data.DataYamlPath, holdout, baseImages.Count, reviewed, pseudo, Convert.ToHexStringLower(fingerprint.GetHashAndReset()));
    }

    /// <summary>Links the image into SPLIT/images and writes its labels into SPLIT/labels; returns the image's path there.</summary>
    private static string Place(YoloDatasetWriter data, string split, string key, DatasetImage image, IncrementalHash? fingerprint)
    {
        var (images, _) = data.CreateFolders(split);
        var name = $"{key}_{Path.GetFileNameWithoutExtension(image.ImagePath)}";
        var target = Path.Combine(images, name + Path.GetExtension(image.ImagePath));
        File.CreateSymbolicLink(target, Path.GetFullPath(image.ImagePath));
        YoloDatasetWriter.WriteLabels(target, image.Boxes);
        fingerprint?.AppendData(Encoding.UTF8.GetBytes($"{Path.GetFileName(image.ImagePath)}\t{YoloDatasetWriter.LabelText(image.Boxes)}\n"));
        return target;
    }
}

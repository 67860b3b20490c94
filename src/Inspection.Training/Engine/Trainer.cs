using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.Core;
using Inspection.Datasets;
using Inspection.Training.Data;
using Inspection.Training.Nn;
using Inspection.Training.Utils;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Training.Engine;

/// <summary>
/// Where training is, after every batch, and once more at the end of each epoch with its validation
/// (<see cref="Validated"/>): the one event that progress bars, metrics and MQTT summaries are fed from.
/// </summary>
public readonly record struct TrainingProgress(int Epoch, int Epochs, int Batch, int Batches, LossItems Loss, double ImagesPerSecond, TimeSpan Eta, EpochResult? Validated = null);

/// <summary>
/// One finished epoch, a row of results.csv: the mean training loss, the validation figures and loss, each parameter
/// group's learning rate during the epoch, the epoch's duration and the run's training time so far.
/// </summary>
public sealed record EpochResult(int Epoch, LossItems Loss, DetectionScores Validation, LossItems ValidationLoss, IReadOnlyList<double> LearningRates, TimeSpan Duration, TimeSpan Elapsed);

/// <summary>
/// Ultralytics' DetectionTrainer (engine/trainer.py) in TorchSharp: three parameter groups (biases, weights with
/// decay, batch-norm weights), warm-up of learning rate and momentum, a linear or cosine schedule, gradient
/// accumulation to a nominal batch of 64, gradient clipping, an EMA of the weights, mosaic closed for the last
/// epochs, validation each epoch, results.csv, early stopping after <c>patience</c> epochs without improvement, and
/// a checkpoint each epoch (weights/last and weights/best by fitness, both the EMA) from which <c>--resume</c> continues.
/// </summary>
public sealed class Trainer(TrainOptions options, ILogger logger, Action<TrainingProgress>? progress = null)
{
    public const string StateFile = "state.json";

    /// <summary>The weights to use, export or fine-tune from: the EMA of the last epoch, and of the best.</summary>
    public const string LastWeights = "last.weights";
    public const string BestWeights = "best.weights";

    /// <summary>What only --resume needs: the trained (not averaged) model and the optimizer's state.</summary>
    private const string ResumeModel = "last.train.weights";
    private const string ResumeOptimizer = "last.optimizer";

    public IReadOnlyList<EpochResult> Train(CancellationToken cancel = default)
    {
        options.Validate();
        var dataset = DatasetLoader.Load(options.Data);
        if (!dataset.Usable)
        {
            throw new InspectionInputException($"Dataset '{options.Data}' cannot be trained on: {string.Join("; ", dataset.Problems.Where(p => p.Severity == ProblemSeverity.Error).Select(p => p.Message))}. Run 'inspection dataset check {options.Data}'.");
        }

        if (!dataset.Splits.TryGetValue("val", out var validation) || validation.Images.Count == 0)
        {
            throw new InspectionInputException($"Dataset '{options.Data}' has no validation images; give it a 'val' split.");
        }

        // Tensors made outside the per-batch scopes (set-up, checkpoints) stay referenced until the run ends:
        // TorchSharp's finaliser may otherwise free an unreferenced temporary while libtorch still reads it.
        using var runScope = NewDisposeScope();
        var device = TrainingDevice.Resolve(options.Device, logger);
        random.manual_seed(options.Seed);
        var scale = options.Scale is { } named ? ModelScale.Parse(named) : options.Weights is { } weightsFile ? StartingWeights.ScaleOf(weightsFile) : ModelScale.N;
        var weights = Path.Combine(options.Output, "weights");
        RunFolder.Create(options.Output);
        var state = options.Resume ? RunState.Load(options.Output) : new RunState { Scale = scale.Name, Names = [.. dataset.Names], ImageSize = options.ImageSize };
        if (state.Names.Count != dataset.Names.Count || !state.Names.SequenceEqual(dataset.Names))
        {
            throw new InspectionInputException($"The run in '{options.Output}' trained classes {string.Join(", ", state.Names)}; the dataset has {string.Join(", ", dataset.Names)}.");
        }

        if (options.Resume && state.Epoch + 1 >= options.Epochs)
        {
            throw new InspectionInputException($"The run in '{options.Output}' has finished its {state.Epoch + 1} epochs: nothing to resume. Train on from its weights in a new run (--weights {Path.Combine(weights, LastWeights)}) or resume with more --epochs.");
        }

        if (!options.Resume)
        {
            RunArguments.Write(options, scale, Path.Combine(options.Output, "args.yaml"));
            Plotting.PlotLabels(dataset.Splits["train"], state.Names, Path.Combine(options.Output, "labels.jpg"));
        }

        using var model = new DetectionModel(ModelScale.Parse(state.Scale), state.Names);
        if (options.Resume)
        {
            model.load(Path.Combine(weights, ResumeModel));
        }
        else if (options.Weights is { } start)
        {
            StartingWeights.Apply(model, start, logger);
        }

        model.to(device);
        using var cache = options.CacheImages ? new ImageCache(dataset.Splits["train"].Images.Count, logger) : null;
        var loader = new DetectionLoader(dataset.Splits["train"], options.Batch, state.ImageSize, options.Augment, options.Seed, cache);
        var batches = loader.BatchesPerEpoch;
        var accumulate = Math.Max((int)Math.Round((double)options.NominalBatch / options.Batch), 1);
        using var optimizer = BuildOptimizer(model, batches * options.Epochs, state.Names.Count, accumulate);
        var groups = optimizer.Groups;
        if (options.Resume)
        {
            optimizer.Load(Path.Combine(weights, ResumeOptimizer));
        }

        using var ema = new ModelEma(model, () => new DetectionModel(ModelScale.Parse(state.Scale), state.Names).to(device), updates: state.EmaUpdates);
        if (options.Resume)
        {
            ema.Model.load(Path.Combine(weights, LastWeights));
        }

        var criterion = new DetectionLoss(state.Names.Count, model.Head.Strides, options.BoxGain, options.ClassGain, options.DflGain);
        var warmupIterations = options.WarmupEpochs > 0 ? Math.Max((int)Math.Round(options.WarmupEpochs * batches), 100) : -1; // none when asked for none, as Ultralytics
        var results = new List<EpochResult>();
        var lastStep = -1;
        var current = default(TrainingProgress);
        for (var epoch = state.Epoch + 1; epoch < options.Epochs; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            var started = Stopwatch.StartNew();
            model.train();
            var mosaic = epoch < options.Epochs - options.CloseMosaic;
            double box = 0, cls = 0, dfl = 0;
            var seen = 0;
            var index = 0;
            optimizer.ZeroGrad();
            foreach (var batch in loader.Epoch(epoch, shuffle: true, mosaic))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    var iteration = index + (batches * epoch);
                    if (iteration <= warmupIterations)
                    {
                        accumulate = Warmup(groups, warmMomentum: optimizer is Sgd, iteration, warmupIterations, epoch);
                    }

                    if (iteration < 3)
                    {
                        Plotting.PlotTrainingSamples(batch, state.Names, options.Output, iteration);
                    }

                    var raw = model.forward(batch.Images.to(device));
                    var (loss, items) = criterion.Compute(raw, batch.BatchIndex, batch.Classes, batch.Boxes);
                    loss.backward();
                    if (iteration - lastStep >= accumulate)
                    {
                        nn.utils.clip_grad_norm_(model.parameters(), options.GradientClip);
                        optimizer.Step();
                        optimizer.ZeroGrad();
                        ema.Update(model);
                        lastStep = iteration;
                    }

                    (box, cls, dfl) = (box + items.Box, cls + items.Class, dfl + items.Dfl);
                    seen += (int)batch.Images.shape[0];
                    index++;
                    var rate = seen / started.Elapsed.TotalSeconds;
                    var remaining = ((batches - index) + ((options.Epochs - epoch - 1) * batches)) * (started.Elapsed.TotalSeconds / index);
                    current = new TrainingProgress(epoch + 1, options.Epochs, index, batches, new LossItems((float)(box / index), (float)(cls / index), (float)(dfl / index)), rate, TimeSpan.FromSeconds(remaining));
                    progress?.Invoke(current);
                }
            }

            // results.csv records the rates the epoch trained with, before the scheduler moves them on.
            var learningRates = groups.Select(group => group.LearningRate).ToList();

            // Scheduler: each group's learning rate follows lf(epoch) from its initial value.
            foreach (var group in groups)
            {
                group.LearningRate = group.InitialLearningRate * LearningRateFactor(epoch + 1);
            }

            var scores = Validator.Evaluate(ema.Model, validation, state.ImageSize, device, criterion: criterion, plotDirectory: options.Output);
            var elapsed = TimeSpan.FromSeconds(state.Seconds) + started.Elapsed;
            var result = new EpochResult(epoch + 1, new LossItems((float)(box / index), (float)(cls / index), (float)(dfl / index)), scores, scores.Loss ?? default, learningRates, started.Elapsed, elapsed);
            results.Add(result);
            progress?.Invoke(current with { Validated = result });
            AppendResults(result);
            Plotting.PlotResults(Path.Combine(options.Output, "results.csv"), Path.Combine(options.Output, "results.png"));

            var improved = scores.Fitness >= state.BestFitness;
            state = state with { Epoch = epoch, EmaUpdates = ema.Updates, Seconds = elapsed.TotalSeconds };
            if (improved)
            {
                state = state with { BestFitness = scores.Fitness, BestEpoch = epoch };
            }

            model.save(Path.Combine(weights, ResumeModel));
            optimizer.Save(Path.Combine(weights, ResumeOptimizer));
            ema.Model.save(Path.Combine(weights, LastWeights));
            Checkpoint.WriteDescription(Path.Combine(weights, LastWeights), state);
            if (improved)
            {
                PlotScores(scores, state.Names);
                ema.Model.save(Path.Combine(weights, BestWeights));
                Checkpoint.WriteDescription(Path.Combine(weights, BestWeights), state);
            }

            state.Save(options.Output);
            logger.LogInformation("Epoch {Epoch}/{Epochs}: mAP50 {Map50:0.000}, mAP50-95 {Map:0.000}, {Seconds:0} s.", epoch + 1, options.Epochs, scores.MAP50, scores.MAP50To95, started.Elapsed.TotalSeconds);
            if (options.Patience > 0 && epoch - state.BestEpoch >= options.Patience)
            {
                logger.LogInformation(
                    "Stopping early: no improvement in the last {Patience} epochs; the best was epoch {Best} (weights/best.weights). Raise --patience to train longer.", options.Patience, state.BestEpoch + 1);
                break;
            }
        }

        return results;
    }

    /// <summary>The best epoch's pictures, under Ultralytics' names.</summary>
    private void PlotScores(DetectionScores scores, IReadOnlyList<string> names)
    {
        Plotting.PlotPrCurve(scores, names, Path.Combine(options.Output, "PR_curve.png"));
        Plotting.PlotMcCurve(scores.F1AtConfidence, names, Path.Combine(options.Output, "F1_curve.png"), "F1");
        Plotting.PlotMcCurve(scores.PrecisionAtConfidence, names, Path.Combine(options.Output, "P_curve.png"), "Precision");
        Plotting.PlotMcCurve(scores.RecallAtConfidence, names, Path.Combine(options.Output, "R_curve.png"), "Recall");
        Plotting.PlotConfusionMatrix(scores.Confusion!, names, Path.Combine(options.Output, "confusion_matrix.png"));
        Plotting.PlotConfusionMatrix(scores.Confusion!, names, Path.Combine(options.Output, "confusion_matrix_normalized.png"), normalize: true);
    }

    /// <summary>Biases (group 0, no decay), other weights (decay), batch-norm weights (no decay): build_optimizer.</summary>
    private Optimizer BuildOptimizer(DetectionModel model, int iterations, int classes, int accumulate)
    {
        var biases = new List<Parameter>();
        var decayed = new List<Parameter>();
        var normWeights = new List<Parameter>();
        foreach (var (parameterName, parameter) in model.named_parameters().Where(p => p.parameter.requires_grad))
        {
            if (parameterName.EndsWith(".bias", StringComparison.Ordinal))
            {
                biases.Add(parameter);
            }
            else if (parameterName.Contains(".bn.", StringComparison.Ordinal))
            {
                normWeights.Add(parameter);
            }
            else
            {
                decayed.Add(parameter);
            }
        }

        var decay = options.WeightDecay * options.Batch * accumulate / options.NominalBatch;
        var (name, lr, momentum) = options.Optimizer.ToLowerInvariant() switch
        {
            "auto" when iterations > 10_000 => ("sgd", 0.01, 0.9),
            "auto" => ("adamw", Math.Round(0.002 * 5 / (4 + classes), 6), 0.9),
            "sgd" => ("sgd", options.Lr0, options.Momentum),
            "adamw" => ("adamw", options.Lr0, options.Momentum),
            var other => throw new InspectionInputException($"Optimizer '{other}' is not one of auto, SGD, AdamW."),
        };
        logger.LogInformation("Optimizer {Name} (lr {Lr}, momentum {Momentum}) with parameter groups: {Weights} weights (decay {Decay}), {Norms} batch-norm weights, {Biases} biases.", name, lr, momentum, decayed.Count, decay, normWeights.Count, biases.Count);
        ParameterGroup[] groups = [new(biases, lr, momentum, 0), new(decayed, lr, momentum, decay), new(normWeights, lr, momentum, 0)];
        return name == "sgd" ? new Sgd(groups) : new AdamW(groups);
    }

    /// <summary>Linear or cosine decay from 1 to lrf over the run.</summary>
    private double LearningRateFactor(double epoch) => options.CosineLr
        ? (((1 - Math.Cos(epoch * Math.PI / options.Epochs)) / 2) * (options.Lrf - 1)) + 1
        : ((1 - (epoch / options.Epochs)) * (1.0 - options.Lrf)) + options.Lrf;

    /// <summary>Warm-up: the bias group's rate falls from warmup_bias_lr, the others rise from 0; momentum rises; returns the accumulation.</summary>
    private int Warmup(IReadOnlyList<ParameterGroup> groups, bool warmMomentum, int iteration, int length, int epoch)
    {
        double Interpolate(double from, double to) => from + ((to - from) * Math.Clamp((double)iteration / length, 0, 1));
        for (var i = 0; i < groups.Count; i++)
        {
            groups[i].LearningRate = Interpolate(i == 0 ? options.WarmupBiasLr : 0.0, groups[i].InitialLearningRate * LearningRateFactor(epoch));
            if (warmMomentum)
            {
                groups[i].Momentum = Interpolate(options.WarmupMomentum, options.Momentum);
            }
        }

        return Math.Max(1, (int)Math.Round(Interpolate(1, (double)options.NominalBatch / options.Batch)));
    }

    /// <summary>results.csv with Ultralytics 8.3's columns and number format (%.6g), so that its scripts read ours.</summary>
    private void AppendResults(EpochResult result)
    {
        var path = Path.Combine(options.Output, "results.csv");
        if (!File.Exists(path))
        {
            File.WriteAllText(path, "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2\n");
        }

        var (v, loss, validationLoss) = (result.Validation, result.Loss, result.ValidationLoss);
        double[] values = [result.Elapsed.TotalSeconds, loss.Box, loss.Class, loss.Dfl, v.Precision, v.Recall, v.MAP50, v.MAP50To95, validationLoss.Box, validationLoss.Class, validationLoss.Dfl, .. result.LearningRates];
        File.AppendAllText(path, string.Join(',', [result.Epoch.ToString(CultureInfo.InvariantCulture), .. values.Select(PythonFormat.General)]) + "\n");
    }
}

/// <summary>What a run directory records between epochs, so that --resume can continue it.</summary>
public sealed record RunState
{
    public required string Scale { get; init; }
    public required List<string> Names { get; init; }
    public required int ImageSize { get; init; }

    /// <summary>The last finished epoch (0-based), -1 before the first.</summary>
    public int Epoch { get; init; } = -1;
    public long EmaUpdates { get; init; }
    public double BestFitness { get; init; }

    /// <summary>The epoch (0-based) whose weights are best.weights; patience counts from it.</summary>
    public int BestEpoch { get; init; } = -1;

    /// <summary>Training time so far, across resumed sessions: results.csv's time column.</summary>
    public double Seconds { get; init; }

    public static RunState Load(string output)
    {
        var path = Path.Combine(output, Trainer.StateFile);
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"Nothing to resume in '{output}': it has no {Trainer.StateFile}. Start without --resume.");
        }

        return JsonSerializer.Deserialize<RunState>(File.ReadAllText(path)) ?? throw new InspectionInputException($"'{path}' is empty.");
    }

    public void Save(string output)
    {
        var path = Path.Combine(output, Trainer.StateFile);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}

using Inspection.Datasets;
using Inspection.Training.Data;
using Inspection.Training.Engine;
using Inspection.Training.Nn;
using Inspection.Training.Utils;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Bench;

/// <summary>
/// Training images/s of the trainer (data loading, augmentation, loss, step, EMA) against the raw
/// forward + loss + backward + step of the same model and batch on tensors made in advance, in the same run:
/// the ratio says how well data loading hides behind the compute.
/// </summary>
internal static class TrainingBenchmark
{
    public static Task RunAsync(BenchOptions options)
    {
        var data = options.Get("data", Path.Combine(BenchOptions.Shared, "datasets/workpiece-crack"));
        var size = options.GetInt("imgsz", 320);
        var batch = options.GetInt("batch", 16);
        var rounds = options.GetInt("rounds", 3);
        var epochs = options.GetInt("epochs", 2);
        var dataset = DatasetLoader.Load(data, verifyImages: false);
        var images = dataset.Splits["train"].Images.Count;
        Measure.Progress($"{data}: {images} training images, YOLOv8n at {size}, batch {batch}; {rounds} rounds");

        var raw = new List<double>();
        var trainer = new List<double>();
        var ratios = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            var bound = RawSteps(dataset.Names.Count, size, batch, steps: (images / batch) * epochs);
            var output = Directory.CreateTempSubdirectory("inspection-bench-train").FullName;
            var rates = new List<double>();
            new Trainer(new TrainOptions { Data = data, Output = output, Epochs = epochs, ImageSize = size, Batch = batch, CloseMosaic = 0 }, NullLogger.Instance, p =>
            {
                if (p.Batch == p.Batches)
                {
                    rates.Add(p.ImagesPerSecond); // the epoch's training part, before its validation
                }
            }).Train();
            Directory.Delete(output, recursive: true);
            var measured = rates.Skip(1).DefaultIfEmpty(rates[0]).Average(); // the first epoch carries start-up
            raw.Add(bound);
            trainer.Add(measured);
            ratios.Add(measured / bound);
            Measure.Progress($"round {round}/{rounds}: raw forward+backward {bound:0.0} img/s, trainer {measured:0.0} img/s (ratio {measured / bound:0.00})");
        }

        Console.WriteLine($"Machine: {Measure.Machine()}; libtorch CPU.");
        Console.WriteLine($"YOLOv8n, {size} px, batch {batch}, {Path.GetFileName(data)} ({images} training images, mosaic on); medians of {rounds} rounds.");
        Console.WriteLine();
        Console.WriteLine("| path | images/s |");
        Console.WriteLine("|---|---|");
        Console.WriteLine($"| raw forward + loss + backward + step on tensors made in advance | {Measure.Median(raw):0.0} |");
        Console.WriteLine($"| trainer (loading, augmentation, loss, step, EMA) | {Measure.Median(trainer):0.0} |");
        Console.WriteLine($"| ratio | {Measure.Median(ratios):0.00} |");
        return Task.CompletedTask;
    }

    private static double RawSteps(int classes, int size, int batch, int steps)
    {
        random.manual_seed(0);
        using var model = new DetectionModel(ModelScale.N, Enumerable.Range(0, classes).Select(i => $"c{i}").ToArray());
        model.train();
        using var optimizer = new Inspection.Training.Engine.AdamW([new Inspection.Training.Engine.ParameterGroup([.. model.parameters()], 0.001, 0.9, 0)]); // the trainer's optimiser
        var loss = new DetectionLoss(classes, model.Head.Strides);
        using var images = rand(batch, 3, size, size);
        using var batchIndex = arange(batch, dtype: float32);
        using var labels = zeros(batch);
        using var boxes = tensor(Enumerable.Repeat(new[] { 0.5f, 0.5f, 0.3f, 0.3f }, batch).SelectMany(b => b).ToArray(), [batch, 4]);
        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            var (total, _) = loss.Compute(model.forward(images), batchIndex, labels, boxes);
            total.backward();
            optimizer.Step();
        }

        Step(); // warm-up
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < steps; i++)
        {
            Step();
        }

        return steps * batch / clock.Elapsed.TotalSeconds;
    }
}

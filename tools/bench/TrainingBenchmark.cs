using Inspection.Core;
using Inspection.Datasets;
using Inspection.Inference;
using Inspection.Training;
using Inspection.Training.Data;
using Inspection.Training.Engine;
using Inspection.Training.Export;
using Inspection.Training.Nn;
using Inspection.Training.Utils;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Bench;

/// <summary>
/// Training images/s of the trainer (data loading, augmentation, loss, step, EMA), reading images from disk and
/// with --cache ram, against the raw forward + loss + backward + step of the same model and batch on tensors made
/// in advance, in the same run: the ratio says how well data loading hides behind the compute. Then val on an
/// ONNX export through the engine against the engine detecting the same images (decode included in both): the
/// ratio is what measuring adds to detecting.
/// </summary>
internal static class TrainingBenchmark
{
    public static async Task RunAsync(BenchOptions options)
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
        var fromDisk = new List<double>();
        var cached = new List<double>();
        var validation = new List<double>();
        var detection = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            var bound = RawSteps(dataset.Names.Count, size, batch, steps: (images / batch) * epochs);
            var output = Directory.CreateTempSubdirectory("inspection-bench-train").FullName;
            var device = BenchOptions.Device.ToString();
            var disk = TrainerRate(new TrainOptions { Data = data, Output = Path.Combine(output, "disk"), Epochs = epochs, ImageSize = size, Batch = batch, CloseMosaic = 0, Device = device });
            var ram = TrainerRate(new TrainOptions { Data = data, Output = Path.Combine(output, "ram"), Epochs = epochs, ImageSize = size, Batch = batch, CloseMosaic = 0, CacheImages = true, Device = device });
            var (val, detect) = await ValAgainstDetectAsync(Path.Combine(output, "ram"), dataset.Splits["val"], size, batch);
            Directory.Delete(output, recursive: true);
            raw.Add(bound);
            fromDisk.Add(disk);
            cached.Add(ram);
            validation.Add(val);
            detection.Add(detect);
            Measure.Progress($"round {round}/{rounds}: raw {bound:0.0} img/s, trainer {disk:0.0} ({disk / bound:0.00}), with --cache ram {ram:0.0} ({ram / bound:0.00}); val on ONNX {val:0.0} img/s, detect {detect:0.0} ({val / detect:0.00})");
        }

        Console.WriteLine($"Machine: {Measure.Machine()}; training on {TrainingDevice.Resolve(BenchOptions.Device.ToString(), NullLogger.Instance)}.");
        Console.WriteLine($"YOLOv8n, {size} px, batch {batch}, {Path.GetFileName(data)} ({images} training images, mosaic on); medians of {rounds} rounds.");
        Console.WriteLine();
        Console.WriteLine("| path | images/s | against the bound |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| raw forward + loss + backward + step on tensors made in advance (bound) | {Measure.Median(raw):0.0} | 1 |");
        Console.WriteLine($"| trainer, images read from disk (loading, augmentation, loss, step, EMA) | {Measure.Median(fromDisk):0.0} | {Measure.Median(fromDisk.Zip(raw, (t, r) => t / r).ToList()):0.00} |");
        Console.WriteLine($"| trainer with --cache ram | {Measure.Median(cached):0.0} | {Measure.Median(cached.Zip(raw, (t, r) => t / r).ToList()):0.00} |");
        Console.WriteLine();
        Console.WriteLine($"| {dataset.Splits["val"].Images.Count} val images through the engine, batch {batch} | images/s | against the bound |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| detect: decode + letterbox + inference + NMS (bound) | {Measure.Median(detection):0.0} | 1 |");
        Console.WriteLine($"| val on the ONNX export: the same, plus matching and mAP | {Measure.Median(validation):0.0} | {Measure.Median(validation.Zip(detection, (v, d) => v / d).ToList()):0.00} |");
    }

    /// <summary>The trainer's images/s over each epoch's training part, the first epoch (start-up, first decode into the cache) left out.</summary>
    private static double TrainerRate(TrainOptions options)
    {
        var rates = new List<double>();
        new Trainer(options, NullLogger.Instance, p =>
        {
            if (p.Batch == p.Batches && p.Validated is null)
            {
                rates.Add(p.ImagesPerSecond); // the epoch's training part, before its validation
            }
        }).Train();
        return rates.Skip(1).DefaultIfEmpty(rates[0]).Average();
    }

    /// <summary>The run's model exported to ONNX: val through the engine, and the engine detecting the same images, each timed over the split.</summary>
    private static async Task<(double Val, double Detect)> ValAgainstDetectAsync(string run, DatasetSplit split, int size, int batch)
    {
        var weights = Path.Combine(run, "weights", Trainer.LastWeights);
        var (scale, names, _) = Checkpoint.ReadDescription(weights);
        var onnx = Path.Combine(run, "model.onnx");
        using (var model = new DetectionModel(scale, names))
        {
            model.load(weights);
            OnnxExporter.Export(model, size, onnx);
        }

        var serial = BenchOptions.Detector(onnx);
        serial.ConcurrentBatches = 1; // the validator runs one batch at a time
        await using var detector = YoloDetector.Open(serial);
        Validator.Evaluate(detector, split, batch); // warm-up
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Validator.Evaluate(detector, split, batch);
        var val = split.Images.Count / clock.Elapsed.TotalSeconds;

        clock.Restart();
        foreach (var chunk in split.Images.Chunk(batch))
        {
            var mats = chunk.Select(image => Cv2.ImRead(image.ImagePath, ImreadModes.Color)).ToArray();
            var results = chunk.Select(_ => new List<Detection>()).ToArray();
            detector.Detect(mats.Select(MatImage.View).ToArray(), results, Validator.Thresholds);
            Array.ForEach(mats, mat => mat.Dispose());
        }

        return (val, split.Images.Count / clock.Elapsed.TotalSeconds);
    }

    private static double RawSteps(int classes, int size, int batch, int steps)
    {
        random.manual_seed(0);
        var device = TrainingDevice.Resolve(BenchOptions.Device.ToString(), NullLogger.Instance);
        using var model = new DetectionModel(ModelScale.N, Enumerable.Range(0, classes).Select(i => $"c{i}").ToArray());
        model.to(device).train();
        using var optimizer = new Inspection.Training.Engine.AdamW([new Inspection.Training.Engine.ParameterGroup([.. model.parameters()], 0.001, 0.9, 0)]); // the trainer's optimiser
        var loss = new DetectionLoss(classes, model.Head.Strides);
        using var images = rand(batch, 3, size, size, device: device);
        using var batchIndex = arange(batch, dtype: float32, device: device);
        using var labels = zeros(batch, device: device);
        using var boxes = tensor(Enumerable.Repeat(new[] { 0.5f, 0.5f, 0.3f, 0.3f }, batch).SelectMany(b => b).ToArray(), [batch, 4], device: device);
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

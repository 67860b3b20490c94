using System.Diagnostics;
using System.Globalization;
using Inspection.Core;
using Inspection.Inference;
using OpenCvSharp;

namespace Inspection.Bench;

/// <summary>
/// Whether a model is ready for every batch the batcher forms once it goes live: a dynamic-batch model is warmed as
/// the worker warms it (every size from 1 to the maximum), then called with batches of random sizes, as a line with
/// uneven load gives them. Per batch size: the median call and the slowest; the slowest should stay within 3x the
/// median of its own size (on TensorRT without profiles the first call at a new size rebuilt the engine).
/// </summary>
internal static class WarmUpBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var maxBatch = options.GetInt("batch", 8);
        var calls = options.GetInt("calls", 400);
        var model = Path.Combine(Path.GetTempPath(), "inspection-bench-yolov8n-fresh-320.onnx");
        using (var fresh = new Training.Nn.DetectionModel(Training.Nn.ModelScale.N, ["crack"]))
        {
            Training.Export.OnnxExporter.Export(fresh, 320, model); // dynamic batch, as the trainer exports
        }

        var detectorOptions = BenchOptions.Detector(model);
        detectorOptions.MaxBatchSize = maxBatch;
        await using var detector = YoloDetector.Open(detectorOptions);
        var warm = detector.WarmUp();
        Measure.Progress($"warmed {string.Join(", ", warm.Select(w => string.Create(CultureInfo.InvariantCulture, $"{w.Batch}: {w.Time.TotalMilliseconds:0} ms")))} on {detector.Provider}");

        using var image = Cv2.ImRead(Path.Combine(BenchOptions.Shared, "media/bus.jpg"));
        var views = Enumerable.Repeat(MatImage.View(image), maxBatch).ToArray();
        var results = views.Select(_ => new List<Detection>()).ToArray();
        var times = Enumerable.Range(0, maxBatch + 1).Select(_ => new List<double>()).ToArray();
        var random = new Random(0);
        for (var call = 0; call < calls; call++)
        {
            var size = random.Next(1, maxBatch + 1);
            var started = Stopwatch.GetTimestamp();
            detector.Detect(views.AsSpan(0, size), results.AsSpan(0, size), DetectionThresholds.Default);
            times[size].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        Console.WriteLine($"Machine: {Measure.Machine()}; a fresh YOLOv8n (320, dynamic batch) on {detector.Provider}, warmed at 1..{maxBatch}, then {calls} calls of random batch sizes.");
        Console.WriteLine();
        Console.WriteLine("| batch | warm-up call (ms) | calls | median (ms) | slowest (ms) | slowest / median |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var (batch, time) in warm)
        {
            var median = Measure.Median(times[batch]);
            var slowest = times[batch].DefaultIfEmpty(double.NaN).Max();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {batch} | {time.TotalMilliseconds:0.0} | {times[batch].Count} | {median:0.0} | {slowest:0.0} | {slowest / median:0.00} |"));
        }
    }
}

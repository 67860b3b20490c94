using System.Globalization;
using Inspection.Core;
using Inspection.Inference;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace Inspection.Bench;

/// <summary>
/// The detector end to end (letterbox, session, grafted NMS, mapping back) against the raw ONNX Runtime session on
/// the same model with pre-filled tensors, at its fastest thread setting, in the same run.
/// </summary>
internal static class DetectorBenchmark
{
    public static async Task RunAsync(BenchOptions options)
    {
        var model = options.Get("model", Path.Combine(BenchOptions.Shared, "models/yolov8n-int8-coco/yolov8n_int8.onnx"));
        if (options.Values.TryGetValue("fresh", out var scale))
        {
            // A freshly initialised model exported by the trainer: the same computation as a trained one of its
            // scale, with a dynamic batch, so batches of 4 and 8 run in one session call.
            model = Path.Combine(Path.GetTempPath(), $"inspection-bench-yolov8{scale}-fresh.onnx");
            using var fresh = new Training.Nn.DetectionModel(Training.Nn.ModelScale.Parse(scale), Enumerable.Range(0, 80).Select(i => $"class{i}").ToArray());
            Training.Export.OnnxExporter.Export(fresh, 640, model);
            Measure.Progress($"exported a fresh YOLOv8{scale} (80 classes, 640, dynamic batch) to {model}");
        }

        var imagePaths = options.Get("images", "media/bus.jpg,media/zidane.jpg").Split(',').Select(p => Path.Combine(BenchOptions.Shared, p)).ToArray();
        var rounds = options.GetInt("rounds", 5);
        var seconds = options.GetDouble("seconds", 2);
        var batches = options.Get("batches", "1,4,8").Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();

        var mats = imagePaths.Select(p => Cv2.ImRead(p, ImreadModes.Color)).ToArray();
        if (mats.Any(m => m.Empty()))
        {
            throw new InspectionInputException($"Cannot read the benchmark images: {string.Join(", ", imagePaths)}.");
        }

        // Phases 1 and 2 call the engine one batch at a time, every core for each call, as the raw session runs.
        var serial = BenchOptions.Detector(model);
        serial.ConcurrentBatches = 1;
        await using var detector = YoloDetector.Open(serial);
        var info = detector.Model;
        var rawBatch = info.FixedBatch ?? 1;
        Measure.Progress($"{info.Name}: {info.Layout}, input {info.InputWidth}x{info.InputHeight}, batch {info.FixedBatch?.ToString(CultureInfo.InvariantCulture) ?? "dynamic"}; {rounds} rounds of {seconds} s per setting");

        var threadSettings = new (string Name, int? Threads)[] { ("1 thread", 1), ("2 threads", 2), ("default", null) };
        using var raw = new RawSessions(model, info, rawBatch, mats[0], threadSettings.Select(t => t.Threads));

        // Phase 1: the raw session's fastest thread setting on this machine, rounds interleaved.
        var rawResults = threadSettings.Select(_ => new List<double>()).ToArray();
        for (var round = 1; round <= rounds; round++)
        {
            for (var i = 0; i < threadSettings.Length; i++)
            {
                rawResults[i].Add(Measure.ImagesPerSecond(raw.Step(i), rawBatch, seconds));
            }

            Measure.Progress($"threads round {round}/{rounds}: {string.Join(", ", threadSettings.Select((t, i) => $"{t.Name} {rawResults[i][^1]:0.0}"))} img/s");
        }

        var rawMedians = rawResults.Select(Measure.Median).ToArray();
        var fastest = Array.IndexOf(rawMedians, rawMedians.Max());

        // Phase 2: the engine at each batch size, each measurement paired with a raw one (same batch for a
        // dynamic-batch model, the model's own batch otherwise) right before it, so each pair cancels the drift.
        var bounds = batches.ToDictionary(b => b, b => new RawSessions(model, info, info.FixedBatch ?? b, mats[0], [threadSettings[fastest].Threads]));
        var endToEnd = batches.ToDictionary(b => b, _ => new List<double>());
        var ratios = batches.ToDictionary(b => b, _ => new List<double>());
        var letterbox = new List<double>();
        var letterboxBytes = new List<double>();
        using var preprocessor = new LetterboxPreprocessor();
        var tensor = new float[3 * info.InputWidth * info.InputHeight];
        var pixels = new byte[3 * info.InputWidth * info.InputHeight];
        var next = 0;
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var batch in batches)
            {
                var views = Enumerable.Range(0, batch).Select(i => MatImage.View(mats[i % mats.Length])).ToArray();
                var results = views.Select(_ => new List<Detection>(300)).ToArray();
                var thresholds = new DetectionThresholds(0.25f, 0.45f, 300);
                var bound = Measure.ImagesPerSecond(bounds[batch].Step(0), info.FixedBatch ?? batch, seconds);
                var engine = Measure.ImagesPerSecond(() => detector.Detect(views, results, thresholds), batch, seconds);
                endToEnd[batch].Add(engine);
                ratios[batch].Add(engine / bound);
            }

            letterbox.Add(Measure.ImagesPerSecond(() => preprocessor.Run(MatImage.View(mats[next++ % mats.Length]), tensor, info.InputWidth, info.InputHeight), 1, seconds / 2));
            letterboxBytes.Add(Measure.ImagesPerSecond(() => preprocessor.RunBytes(MatImage.View(mats[next++ % mats.Length]), pixels, info.InputWidth, info.InputHeight), 1, seconds / 2));
            Measure.Progress($"engine round {round}/{rounds}: {string.Join(", ", batches.Select(b => $"batch {b} {endToEnd[b][^1]:0.0} img/s (ratio {ratios[b][^1]:0.00})"))}");
        }

        Console.WriteLine($"Machine: {Measure.Machine()}; ONNX Runtime {OrtEnv.Instance().GetVersionString()}, engine on {detector.Provider}{(BenchOptions.Fp16 ? " FP16" : string.Empty)}, raw session on the same device.");
        Console.WriteLine($"Model: `{Path.GetFileName(model)}` ({info.Layout}, {info.InputWidth}x{info.InputHeight}, batch {info.FixedBatch?.ToString(CultureInfo.InvariantCulture) ?? "dynamic"}); images: {string.Join(", ", imagePaths.Select(Path.GetFileName))}; medians of {rounds} rounds of {seconds} s.");
        Console.WriteLine();
        Console.WriteLine("| raw session, pre-filled tensor | images/s |");
        Console.WriteLine("|---|---|");
        for (var i = 0; i < threadSettings.Length; i++)
        {
            Console.WriteLine($"| {threadSettings[i].Name}{(i == fastest ? " (fastest)" : string.Empty)} | {rawMedians[i]:0.0} |");
        }

        Console.WriteLine();
        Console.WriteLine($"| engine end to end, one batch at a time | images/s | ratio to the raw session at the same batch ({threadSettings[fastest].Name}), paired |");
        Console.WriteLine("|---|---|---|");
        foreach (var batch in batches)
        {
            var perCall = info.FixedBatch is { } f && batch > f ? $" (fixed batch: {f} per call)" : string.Empty;
            Console.WriteLine($"| batch {batch}{perCall} | {Measure.Median(endToEnd[batch]):0.0} | {Measure.Median(ratios[batch]):0.00} |");
        }

        foreach (var bound in bounds.Values)
        {
            bound.Dispose();
        }

        await ConcurrentAsync(model, info, mats, batches, rounds, seconds);

        var (floats, bytes) = (Measure.Median(letterbox), Measure.Median(letterboxBytes));
        Console.WriteLine();
        Console.WriteLine($"Letterbox alone, one thread: into bytes (the engine's default; the graph converts) {bytes:0} images/s ({1000 / bytes:0.00} ms per image), into floats (the reference) {floats:0} images/s ({1000 / floats:0.00} ms); bytes / floats {bytes / floats:0.00}.");
        foreach (var m in mats)
        {
            m.Dispose();
        }
    }

    /// <summary>
    /// Phase 3: the engine as the worker runs it, several batches at once with the cores shared among them, against
    /// raw sessions run the same way (as many at once, each with as many threads), paired per batch size and round.
    /// </summary>
    private static async Task ConcurrentAsync(string model, ModelInfo info, Mat[] mats, int[] batches, int rounds, double seconds)
    {
        await using var detector = YoloDetector.Open(BenchOptions.Detector(model));
        var lanes = detector.ConcurrentBatches;
        if (lanes == 1)
        {
            return; // the worker runs one batch at a time here: phase 2 measured it
        }

        var threads = BenchOptions.Detector(model).IntraOpThreadsOn(detector.Provider, Environment.ProcessorCount);
        var bounds = batches.ToDictionary(b => b, b => new RawSessions(model, info, info.FixedBatch ?? b, mats[0], Enumerable.Repeat<int?>(threads, lanes)));
        var engine = batches.ToDictionary(b => b, _ => new List<double>());
        var ratios = batches.ToDictionary(b => b, _ => new List<double>());
        var thresholds = new DetectionThresholds(0.25f, 0.45f, 300);
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var batch in batches)
            {
                var bound = Measure.ImagesPerSecondOnThreads(lanes, bounds[batch].Step, info.FixedBatch ?? batch, seconds);
                var rate = Measure.ImagesPerSecondOnThreads(lanes, lane =>
                {
                    var views = Enumerable.Range(0, batch).Select(i => MatImage.View(mats[(i + lane) % mats.Length])).ToArray();
                    var results = views.Select(_ => new List<Detection>(300)).ToArray();
                    return () => detector.Detect(views, results, thresholds);
                }, batch, seconds);
                engine[batch].Add(rate);
                ratios[batch].Add(rate / bound);
            }

            Measure.Progress($"{lanes} batches at once, round {round}/{rounds}: {string.Join(", ", batches.Select(b => $"batch {b} {engine[b][^1]:0.0} img/s (ratio {ratios[b][^1]:0.00})"))}");
        }

        Console.WriteLine();
        Console.WriteLine($"| engine as the worker runs it: {lanes} batches at once, {threads} thread(s) each | images/s | ratio to {lanes} raw sessions at once, {threads} thread(s) each, paired |");
        Console.WriteLine("|---|---|---|");
        foreach (var batch in batches)
        {
            Console.WriteLine($"| batch {batch} | {Measure.Median(engine[batch]):0.0} | {Measure.Median(ratios[batch]):0.00} |");
            bounds[batch].Dispose();
        }
    }

    /// <summary>One raw session per thread setting on the unmodified model, input pre-filled, outputs bound once.</summary>
    private sealed class RawSessions : IDisposable
    {
        private readonly List<IDisposable> _owned = [];
        private readonly List<Action> _steps = [];

        public RawSessions(string model, ModelInfo info, int batch, Mat sample, IEnumerable<int?> threads)
        {
            var plane = info.InputWidth * info.InputHeight;
            var input = new float[batch * 3 * plane];
            var inputName = YoloModelReader.Describe(Onnx.OnnxModelFile.Load(model), model).InputName;
            using (var preprocessor = new LetterboxPreprocessor())
            {
                for (var i = 0; i < batch; i++)
                {
                    preprocessor.Run(MatImage.View(sample), input.AsSpan(i * 3 * plane, 3 * plane), info.InputWidth, info.InputHeight);
                }
            }

            foreach (var threadCount in threads)
            {
                var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
                if (threadCount is { } t)
                {
                    sessionOptions.IntraOpNumThreads = t;
                }

                AppendDevice(sessionOptions, inputName, info, batch);
                var session = new InferenceSession(model, sessionOptions);
                var binding = session.CreateIoBinding();
                var inputValue = OrtValue.CreateTensorValueFromMemory(input, [batch, 3, info.InputHeight, info.InputWidth]);
                binding.BindInput(inputName, inputValue);
                binding.BindOutputToDevice(session.OutputMetadata.Keys.First(), OrtMemoryInfo.DefaultInstance);
                var runOptions = new RunOptions();
                _owned.AddRange([sessionOptions, session, binding, inputValue, runOptions]);
                _steps.Add(() => session.RunWithBinding(runOptions, binding));
            }
        }

        public Action Step(int index) => _steps[index];

        /// <summary>The raw session on the benchmark's device, as the engine runs there: TensorRT with a profile for this batch.</summary>
        private static void AppendDevice(SessionOptions sessionOptions, string input, ModelInfo info, int batch)
        {
            var device = BenchOptions.Device;
            if (device.Kind == DeviceKind.TensorRt)
            {
                using var trt = new OrtTensorRTProviderOptions();
                var shape = $"{input}:{batch}x3x{info.InputHeight}x{info.InputWidth}";
                trt.UpdateOptions(new Dictionary<string, string>
                {
                    ["device_id"] = device.Id.ToString(CultureInfo.InvariantCulture),
                    ["trt_fp16_enable"] = BenchOptions.Fp16 ? "1" : "0",
                    ["trt_profile_min_shapes"] = shape,
                    ["trt_profile_opt_shapes"] = shape,
                    ["trt_profile_max_shapes"] = shape,
                });
                sessionOptions.AppendExecutionProvider_Tensorrt(trt);
            }

            if (device.Kind is DeviceKind.TensorRt or DeviceKind.Cuda)
            {
                sessionOptions.AppendExecutionProvider_CUDA(device.Id);
            }
        }

        public void Dispose()
        {
            for (var i = _owned.Count - 1; i >= 0; i--)
            {
                _owned[i].Dispose();
            }
        }
    }
}

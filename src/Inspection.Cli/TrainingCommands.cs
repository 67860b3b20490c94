using System.CommandLine;
using System.Text.Json;
using Inspection.Core;
using Inspection.Datasets;
using Inspection.Inference;
using Inspection.Training;
using Inspection.Training.Engine;
using Inspection.Training.Export;
using Inspection.Training.Nn;
using Inspection.Training.Utils;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace Inspection.Cli;

/// <summary><c>inspection train</c>, <c>val</c> and <c>export</c>: the detector's life from a dataset to an ONNX model.</summary>
internal static class TrainingCommands
{
    public static IEnumerable<Command> Create() => [Train(), Val(), Export()];

    private static Command Train()
    {
        var data = new Option<string?>("--data") { Description = "data.yaml, a VOC folder or a folder of labelled images." };
        var model = new Option<string?>("--model") { Description = "Model scale: n or s; by default that of --weights, else n." };
        var weights = new Option<string?>("--weights") { Description = "Weights to start from: an Ultralytics .pt (yolov8n.pt, yolov8s.pt: COCO-pretrained) or a .weights of an earlier run." };
        var epochs = new Option<int>("--epochs") { Description = "Epochs (100)." };
        var patience = new Option<int>("--patience") { Description = "Stop after this many epochs without improvement (100; 0 never stops early)." };
        var imgsz = new Option<int>("--imgsz") { Description = "Training image size, a multiple of 32 (640)." };
        var batch = new Option<int>("--batch") { Description = "Images per batch (16)." };
        var device = new Option<string?>("--device") { Description = "auto, cpu, a GPU id such as 0, or cuda:N (auto)." };
        var cache = new Option<string?>("--cache") { Description = "ram: keep decoded training images in memory." };
        var project = new Option<string>("--project") { Description = "Folder of runs.", DefaultValueFactory = _ => RunFolder.DefaultProject };
        var name = new Option<string>("--name") { Description = "Run name in --project; an existing one gets a number (train2, ...).", DefaultValueFactory = _ => RunFolder.DefaultName };
        var existOk = new Option<bool>("--exist-ok") { Description = "Write into --project/--name even if it exists." };
        var output = new Option<string?>("--out") { Description = "The run folder itself, instead of --project/--name." };
        var resume = new Option<bool>("--resume") { Description = "Continue a run from its last epoch with its settings (args.yaml): --out, or the latest run in --project." };
        var optimizer = new Option<string?>("--optimizer") { Description = "auto, SGD or AdamW (auto)." };
        var lr0 = new Option<double>("--lr0") { Description = "Initial learning rate (0.01; auto optimizer chooses its own)." };
        var lrf = new Option<double>("--lrf") { Description = "Final learning rate as a fraction of lr0 (0.01)." };
        var cosine = new Option<bool>("--cos-lr") { Description = "Cosine learning-rate schedule instead of linear." };
        var closeMosaic = new Option<int>("--close-mosaic") { Description = "Epochs at the end trained without mosaic (10)." };
        var seed = new Option<int>("--seed") { Description = "Random seed (0)." };
        var cfg = new Option<string?>("--cfg") { Description = "A YAML of settings under Ultralytics' names (an args.yaml or hyperparameter file); options given here win." };
        var command = new Command("train", "Train or fine-tune a YOLOv8 detector.")
        {
            data, model, weights, epochs, patience, imgsz, batch, device, cache, project, name, existOk, output, resume, optimizer, lr0, lrf, cosine, closeMosaic, seed, cfg,
        };
        TrainingTelemetry.Options.ToList().ForEach(command.Options.Add);
        command.SetAction(async (parse, cancel) =>
        {
            TrainingDevice.RequireLibTorch();
            // Settings, weakest first: defaults, the resumed run's args.yaml, --cfg, then the options given here.
            var resuming = parse.GetValue(resume);
            var chosenFolder = parse.GetValue(output) ?? (resuming ? RunFolder.Latest(parse.GetValue(project)!) : null);
            var options = new TrainOptions { Data = string.Empty, Output = string.Empty };
            if (resuming && chosenFolder is not null && File.Exists(Path.Combine(chosenFolder, "args.yaml")))
            {
                options = RunArguments.Apply(options, Path.Combine(chosenFolder, "args.yaml"));
            }

            if (parse.GetValue(cfg) is { } cfgPath)
            {
                options = RunArguments.Apply(options, cfgPath);
            }

            options = options with
            {
                Data = Given(parse, data) ?? options.Data,
                Scale = Given(parse, model) ?? options.Scale,
                Weights = Given(parse, weights) ?? options.Weights,
                Epochs = Given(parse, epochs, options.Epochs),
                Patience = Given(parse, patience, options.Patience),
                ImageSize = Given(parse, imgsz, options.ImageSize),
                Batch = Given(parse, batch, options.Batch),
                Device = Given(parse, device) ?? options.Device,
                CacheImages = Given(parse, cache) is { } caching ? RunArguments.Cache(caching, "--cache") : options.CacheImages,
                Optimizer = Given(parse, optimizer) ?? options.Optimizer,
                Lr0 = Given(parse, lr0, options.Lr0),
                Lrf = Given(parse, lrf, options.Lrf),
                CosineLr = Given(parse, cosine, options.CosineLr),
                CloseMosaic = Given(parse, closeMosaic, options.CloseMosaic),
                Seed = Given(parse, seed, options.Seed),
                Resume = resuming,
                Output = chosenFolder ?? RunFolder.Next(parse.GetValue(project)!, parse.GetValue(name)!, parse.GetValue(existOk)),
            };
            if (options.Data.Length == 0)
            {
                throw new InspectionInputException("--data is required (or data: in the --cfg file).");
            }

            using var loggers = Logging.Create(verbose: true);
            var logger = loggers.CreateLogger("Inspection.Training");
            await using var telemetry = TrainingTelemetry.Start(parse, options.Device, Path.Combine(options.Output, ".mqtt-queue"), logger);
            var results = ConsoleProgress.Run(progress => new Trainer(options, logger, p =>
            {
                telemetry.Observe(p);
                progress.Show(p);
            }).Train(cancel));
            if (results.Count > 0)
            {
                var last = results[^1].Validation;
                var (first, final) = (results[0].Epoch, results[^1].Epoch);
                var epochs = first == 1 ? $"{results.Count} epochs" : first == final ? $"epoch {first} (resumed)" : $"epochs {first}-{final} (resumed)";
                Console.WriteLine($"{epochs}: mAP50 {last.MAP50:0.000}, mAP50-95 {last.MAP50To95:0.000}; results in {options.Output}, weights in {Path.Combine(options.Output, "weights")}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>An option's value when it was given on the command line (so that it overrides --cfg), else null.</summary>
    private static T? Given<T>(ParseResult parse, Option<T?> option)
        where T : class => parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option) : null;

    private static T Given<T>(ParseResult parse, Option<T> option, T otherwise)
        where T : struct => parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option) : otherwise;

    private static Command Val()
    {
        var model = new Option<string>("--model", "--weights") { Description = "The model to measure: an ONNX file (run as it serves) or a .weights checkpoint.", Required = true };
        var data = new Option<string>("--data") { Description = "The dataset whose val split to measure on.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var batch = new Option<int>("--batch") { Description = "Images per batch.", DefaultValueFactory = _ => 16 };
        var device = new Option<string>("--device") { Description = $"{DeviceChoice.Syntax}.", DefaultValueFactory = _ => "auto" };
        var command = new Command("val", "Measure a model on a dataset's validation split: mAP50, mAP50-95, precision, recall, per-class AP.") { model, data, json, batch, device };
        command.SetAction(async parse =>
        {
            var path = parse.GetValue(model)!;
            var batchSize = Positive(parse.GetValue(batch), "--batch");
            var dataset = DatasetLoader.Load(parse.GetValue(data)!);
            if (!dataset.Splits.TryGetValue("val", out var split) || split.Images.Count == 0)
            {
                throw new InspectionInputException($"Dataset '{parse.GetValue(data)}' has no validation images.");
            }

            using var loggers = Logging.Create(verbose: false);
            DetectionScores scores;
            IReadOnlyList<string> names;
            if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path, ConcurrentBatches = 1 }.On(DeviceChoice.Parse(parse.GetValue(device)!)), loggers);
                names = detector.Model.Names;
                RequireSameClasses(names, dataset);
                scores = ConsoleProgress.Run(progress => Validator.Evaluate(detector, split, batchSize, progress.Add("val", "images").Count));
            }
            else
            {
                TrainingDevice.RequireLibTorch();
                (var scale, names, var imageSize) = Checkpoint.ReadDescription(path);
                RequireSameClasses(names, dataset);
                using var network = new DetectionModel(scale, names);
                network.load(path);
                var torchDevice = TrainingDevice.Resolve(parse.GetValue(device)!, loggers.CreateLogger("Inspection.Training"));
                network.to(torchDevice);
                scores = ConsoleProgress.Run(progress => Validator.Evaluate(network, split, imageSize, torchDevice, batchSize, progress.Add("val", "images").Count));
            }

            var perClass = scores.PerClass.ToDictionary(kv => names[kv.Key], kv => new { mAP50 = Math.Round(kv.Value.AP50, 4), mAP50_95 = Math.Round(kv.Value.AP50To95, 4) });
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { mAP50 = Math.Round(scores.MAP50, 4), mAP50_95 = Math.Round(scores.MAP50To95, 4), precision = Math.Round(scores.Precision, 4), recall = Math.Round(scores.Recall, 4), perClass }));
            }
            else
            {
                Console.WriteLine($"{split.Images.Count} images: mAP50 {scores.MAP50:0.000}, mAP50-95 {scores.MAP50To95:0.000}, precision {scores.Precision:0.000}, recall {scores.Recall:0.000}");
                foreach (var (name, ap) in perClass)
                {
                    Console.WriteLine($"  {name,-20} mAP50 {ap.mAP50:0.000}  mAP50-95 {ap.mAP50_95:0.000}");
                }
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static void RequireSameClasses(IReadOnlyList<string> names, Dataset dataset)
    {
        if (!dataset.Names.SequenceEqual(names))
        {
            throw new InspectionInputException($"The model knows classes {string.Join(", ", names)}; the dataset has {string.Join(", ", dataset.Names)}.");
        }
    }

    private static Command Export()
    {
        var weights = new Option<string>("--weights") { Description = "A .weights checkpoint from inspection train.", Required = true };
        var output = new Option<string>("--out") { Description = "The ONNX file to write.", Required = true };
        var imgsz = new Option<int?>("--imgsz") { Description = "Input size; the training size by default." };
        var command = new Command("export", "Export a checkpoint to ONNX (opset 17, dynamic batch, Ultralytics' layout and metadata).") { weights, output, imgsz };
        command.SetAction(parse =>
        {
            TrainingDevice.RequireLibTorch();
            var path = parse.GetValue(weights)!;
            var (scale, names, imageSize) = Checkpoint.ReadDescription(path);
            using var model = new DetectionModel(scale, names);
            model.load(path);
            var size = parse.GetValue(imgsz) ?? imageSize;
            OnnxExporter.Export(model, size, parse.GetValue(output)!, version: Path.GetFileNameWithoutExtension(path));
            Console.WriteLine($"{parse.GetValue(output)}: YOLOv8{scale.Name}, {names.Count} classes, {size}x{size}, dynamic batch");
            return ExitCodes.Success;
        });
        return command;
    }

    private static int Positive(int value, string option) =>
        value > 0 ? value : throw new InspectionInputException($"{option} {value} must be positive.");
}

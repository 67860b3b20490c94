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
        var data = new Option<string>("--data") { Description = "data.yaml, a VOC folder or a folder of labelled images.", Required = true };
        var model = new Option<string?>("--model") { Description = "Model scale: n or s; by default that of --weights, else n." };
        var epochs = new Option<int>("--epochs") { Description = "Epochs.", DefaultValueFactory = _ => 100 };
        var imgsz = new Option<int>("--imgsz") { Description = "Training image size (a multiple of 32).", DefaultValueFactory = _ => 640 };
        var batch = new Option<int>("--batch") { Description = "Images per batch.", DefaultValueFactory = _ => 16 };
        var device = new Option<string>("--device") { Description = "auto, cpu, a GPU id such as 0, or cuda:N.", DefaultValueFactory = _ => "auto" };
        var output = new Option<string>("--out") { Description = "Run folder: weights/, results.csv, state.json.", Required = true };
        var weights = new Option<string?>("--weights") { Description = "Weights to start from: an Ultralytics .pt (yolov8n.pt, yolov8s.pt: COCO-pretrained) or a .weights of an earlier run." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last epoch." };
        var optimizer = new Option<string>("--optimizer") { Description = "auto, SGD or AdamW.", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var command = new Command("train", "Train or fine-tune a YOLOv8 detector.") { data, model, epochs, imgsz, batch, device, output, weights, resume, optimizer, seed };
        TrainingTelemetry.Options.ToList().ForEach(command.Options.Add);
        command.SetAction(async (parse, cancel) =>
        {
            TrainingDevice.RequireLibTorch();
            var options = new TrainOptions
            {
                Data = parse.GetValue(data)!,
                Scale = parse.GetValue(model),
                Epochs = Positive(parse.GetValue(epochs), "--epochs"),
                ImageSize = Positive(parse.GetValue(imgsz), "--imgsz"),
                Batch = Positive(parse.GetValue(batch), "--batch"),
                Device = parse.GetValue(device)!,
                Output = parse.GetValue(output)!,
                Weights = parse.GetValue(weights),
                Resume = parse.GetValue(resume),
                Optimizer = parse.GetValue(optimizer)!,
                Seed = parse.GetValue(seed),
            };
            if (options.ImageSize % 32 != 0)
            {
                throw new InspectionInputException($"--imgsz {options.ImageSize} is not a multiple of 32.");
            }

            using var loggers = Logging.Create(verbose: true);
            var logger = loggers.CreateLogger("Inspection.Training");
            await using var telemetry = TrainingTelemetry.Start(parse, options.Device, Path.Combine(options.Output, ".mqtt-queue"), logger);
            var progress = new ProgressLine();
            var results = new Trainer(options, logger, p =>
            {
                telemetry.Observe(p);
                progress.Show($"epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.Batches}  box {p.Loss.Box:0.000} cls {p.Loss.Class:0.000} dfl {p.Loss.Dfl:0.000}  {p.ImagesPerSecond:0.0} img/s  ETA {p.Eta:hh\\:mm\\:ss}");
            }).Train(cancel);
            progress.Done();
            if (results.Count > 0)
            {
                var last = results[^1].Validation;
                Console.WriteLine($"{results.Count} epochs: mAP50 {last.MAP50:0.000}, mAP50-95 {last.MAP50To95:0.000}; weights in {Path.Combine(options.Output, "weights")}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

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
                await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = path }.On(DeviceChoice.Parse(parse.GetValue(device)!)), loggers);
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

    /// <summary>A progress line that rewrites itself on a terminal and prints one line per update otherwise.</summary>
    private sealed class ProgressLine
    {
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private DateTime _last;

        public void Show(string text)
        {
            if (_terminal)
            {
                Console.Error.Write("\r" + text.PadRight(Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 120) : 0));
            }
            else if (DateTime.UtcNow - _last > TimeSpan.FromSeconds(10))
            {
                Console.Error.WriteLine(text);
                _last = DateTime.UtcNow;
            }
        }

        public void Done()
        {
            if (_terminal)
            {
                Console.Error.WriteLine();
            }
        }
    }
}

using System.Buffers;
using System.CommandLine;
using System.Text;
using System.Text.Json;
using Inspection.Core;
using Inspection.Inference;
using OpenCvSharp;

namespace Inspection.Cli;

/// <summary><c>inspection detect</c>: runs a model on an image, a folder of images or a video file.</summary>
internal static class DetectCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "ONNX model exported by Ultralytics (or by inspection export).", Required = true };
        var source = new Option<string>("--source", "-s") { Description = "An image, a folder of images or a video file.", Required = true };
        var conf = new Option<float>("--conf") { Description = "Confidence threshold.", DefaultValueFactory = _ => 0.25f };
        var iou = new Option<float>("--iou") { Description = "NMS IoU threshold (0.7, as Ultralytics predict).", DefaultValueFactory = _ => 0.7f };
        var maxDet = new Option<int>("--max-det") { Description = "Maximum detections per image.", DefaultValueFactory = _ => 300 };
        var imgsz = new Option<int?>("--imgsz") { Description = "Input size, for models whose input size is dynamic." };
        var batch = new Option<int>("--batch") { Description = "Images per batch.", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = $"{DeviceChoice.Syntax}; auto tries TensorRT, then CUDA, then the CPU.", DefaultValueFactory = _ => "auto" };
        var nms = new Option<NmsPlacement>("--nms") { Description = "Where NMS runs: InGraph (on the model's device) or Managed.", DefaultValueFactory = _ => NmsPlacement.InGraph };
        var output = new Option<string?>("--out", "-o") { Description = "Folder for annotated images (and videos)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per image instead of text." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log model and device details." };

        var command = new Command("detect", "Detect objects with a YOLO model and print or draw them.")
        {
            model, source, conf, iou, maxDet, imgsz, batch, device, nms, output, json, verbose,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var thresholds = new DetectionThresholds(parse.GetValue(conf), parse.GetValue(iou), parse.GetValue(maxDet));
            thresholds.Validate();
            var batchSize = parse.GetValue(batch);
            if (batchSize is < 1 or > 256)
            {
                throw new InspectionInputException($"--batch {batchSize} is outside 1..256.");
            }

            var options = new DetectorOptions
            {
                ModelPath = parse.GetValue(model)!,
                ImageSize = parse.GetValue(imgsz),
                Nms = parse.GetValue(nms),
                ConcurrentBatches = 1, // one call at a time: every core for each
            }.On(DeviceChoice.Parse(parse.GetValue(device)!));
            using var loggers = Logging.Create(parse.GetValue(verbose));
            await using var detector = YoloDetector.Open(options, loggers);
            var run = new DetectRun(detector, thresholds, parse.GetValue(output), parse.GetValue(json));
            return ConsoleProgress.Run(progress => run.Execute(parse.GetValue(source)!, batchSize, progress, cancel));
        });
        return command;
    }

    /// <summary>One detect invocation: batches the source's pictures, prints results, writes annotated copies.</summary>
    private sealed class DetectRun(YoloDetector detector, DetectionThresholds thresholds, string? outputFolder, bool json)
    {
        private readonly Dictionary<string, VideoWriter> _videos = [];
        private int _skipped;
        private ConsoleProgress.Bar? _bar;
        private int _done;
        private int _total;

        public int Execute(string source, int batchSize, ConsoleProgress progress, CancellationToken cancel)
        {
            var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(source));
            void Counted(int total, string unit) => (_bar, _total) = (progress.Add(name.Length > 0 ? name : source, unit), total);

            if (outputFolder is not null)
            {
                Directory.CreateDirectory(outputFolder);
            }

            var pending = new List<MediaItem>(batchSize);
            try
            {
                foreach (var item in MediaInput.Read(source, Skip, Counted))
                {
                    cancel.ThrowIfCancellationRequested();
                    pending.Add(item);
                    if (pending.Count == batchSize)
                    {
                        Process(pending);
                    }
                }

                Process(pending);
                _bar?.Finish();
            }
            finally
            {
                pending.ForEach(p => p.Dispose());
                foreach (var writer in _videos.Values)
                {
                    writer.Dispose();
                }
            }

            return _skipped > 0 ? ExitCodes.UserError : ExitCodes.Success;
        }

        private void Skip(string reason)
        {
            _skipped++;
            Console.Error.WriteLine($"inspection: skipped {reason}");
            _bar?.Count(++_done, _total);
        }

        private void Process(List<MediaItem> items)
        {
            if (items.Count == 0)
            {
                return;
            }

            var views = items.Select(i => MatImage.View(i.Image)).ToArray();
            var results = items.Select(_ => new List<Detection>()).ToArray();
            detector.Detect(views, results, thresholds);
            for (var i = 0; i < items.Count; i++)
            {
                Print(items[i], results[i]);
                Annotate(items[i], results[i]);
                items[i].Dispose();
            }

            _done += items.Count;
            _bar?.Count(_done, _total);
            items.Clear();
        }

        private void Print(MediaItem item, List<Detection> detections)
        {
            var names = detector.Model;
            if (json)
            {
                var line = new ArrayBufferWriter<byte>();
                using (var writer = new Utf8JsonWriter(line))
                {
                    writer.WriteStartObject();
                    writer.WriteString("source", item.Source);
                    if (item.Frame is { } frame)
                    {
                        writer.WriteNumber("frame", frame);
                    }

                    writer.WriteNumber("width", item.Image.Width);
                    writer.WriteNumber("height", item.Image.Height);
                    DetectionJson.WriteArray(writer, "detections", detections, names.ClassName);
                    writer.WriteEndObject();
                }

                Console.Out.WriteLine(Encoding.UTF8.GetString(line.WrittenSpan)); // Console.Out, which the progress display may own
                return;
            }

            var where = item.Frame is { } f ? $"{item.Source} frame {f}" : item.Source;
            Console.WriteLine($"{where} ({item.Image.Width}x{item.Image.Height}): {detections.Count} detection{(detections.Count == 1 ? string.Empty : "s")}");
            foreach (var d in detections)
            {
                Console.WriteLine($"  {names.ClassName(d.ClassId),-16} {d.Score:0.000}  {d.Box}");
            }
        }

        private void Annotate(MediaItem item, List<Detection> detections)
        {
            if (outputFolder is null)
            {
                return;
            }

            DetectionPainter.Draw(item.Image, detections, detector.Model);
            if (item.Frame is null)
            {
                var extension = Path.GetExtension(item.Source).ToLowerInvariant() is ".png" or ".bmp" ? Path.GetExtension(item.Source) : ".jpg";
                Cv2.ImWrite(Path.Combine(outputFolder, Path.GetFileNameWithoutExtension(item.Source) + extension), item.Image);
                return;
            }

            if (!_videos.TryGetValue(item.Source, out var writer))
            {
                var path = Path.Combine(outputFolder, Path.GetFileNameWithoutExtension(item.Source) + ".mp4");
                writer = new VideoWriter(path, FourCC.MP4V, item.Fps, item.Image.Size());
                _videos[item.Source] = writer;
            }

            writer.Write(item.Image);
        }
    }
}

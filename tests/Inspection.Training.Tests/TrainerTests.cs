using Inspection.Training.Data;
using Inspection.Training.Engine;
using Inspection.Training.Nn;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Inspection.Training.Tests;

public sealed class TrainerTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A tiny YOLO dataset: dark images with one or two bright squares, labelled.</summary>
    private string TinyDataset(string[] names)
    {
        foreach (var split in new[] { "train", "val" })
        {
            var images = Directory.CreateDirectory(_folder.File($"{split}/images")).FullName;
            var labels = Directory.CreateDirectory(_folder.File($"{split}/labels")).FullName;
            var random = new Random(split.Length);
            for (var i = 0; i < 6; i++)
            {
                using var image = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(25));
                var lines = new List<string>();
                for (var k = 0; k < 1 + (i % 2); k++)
                {
                    var (x, y, w, h) = (random.Next(4, 36), random.Next(4, 36), random.Next(12, 24), random.Next(12, 24));
                    image.Rectangle(new Rect(x, y, w, h), Scalar.All(230), -1);
                    lines.Add(FormattableString.Invariant($"{k % names.Length} {(x + (w / 2.0)) / 64:0.######} {(y + (h / 2.0)) / 64:0.######} {w / 64.0:0.######} {h / 64.0:0.######}"));
                }

                Cv2.ImWrite(Path.Combine(images, $"{i}.png"), image);
                File.WriteAllLines(Path.Combine(labels, $"{i}.txt"), lines);
            }
        }

        File.WriteAllText(_folder.File("data.yaml"), $"train: train/images\nval: val/images\nnames: [{string.Join(", ", names.Select(n => $"'{n}'"))}]\n");
        return _folder.File("data.yaml");
    }

    [Fact]
    public void A_handful_of_images_is_learnt_to_map50_above_0_9_on_themselves()
    {
        // Trained and validated on the same six pictures: the whole loop (loader, assigner, loss, optimiser, EMA,
        // validator) must be able to learn them.
        var data = TinyDataset(["square"]);
        File.WriteAllText(data, "train: train/images\nval: train/images\nnames: ['square']\n");
        var options = new TrainOptions
        {
            Data = data, Output = _folder.File("overfit"), Epochs = 150, ImageSize = 64, Batch = 3, NominalBatch = 3, Lrf = 0.5, // two steps an epoch
            Augment = AugmentOptions.None, CloseMosaic = 0, WarmupEpochs = 0, Optimizer = "AdamW", Lr0 = 0.002,
        };
        var results = new Trainer(options, NullLogger.Instance).Train();
        Assert.True(results.Max(r => r.Validation.MAP50) >= 0.9, $"best mAP50 {results.Max(r => r.Validation.MAP50):0.000}; by epoch: {string.Join(" ", results.Select(r => r.Validation.MAP50.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)))}");
    }

    [Fact]
    public void A_run_writes_results_and_checkpoints_and_resumes_where_it_stopped()
    {
        var data = TinyDataset(["square"]);
        var output = _folder.File("run");
        var options = new TrainOptions { Data = data, Output = output, Epochs = 2, ImageSize = 64, Batch = 4, CloseMosaic = 1, WarmupEpochs = 0 };
        var progress = new List<TrainingProgress>();
        var results = new Trainer(options, NullLogger.Instance, progress.Add).Train();

        Assert.Equal([1, 2], results.Select(r => r.Epoch));
        Assert.Equal([1, 2, 1, 2], progress.Where(p => p.Validated is null).Select(p => p.Batch)); // 6 images in batches of 4, two epochs
        Assert.Equal(results, progress.Select(p => p.Validated).OfType<EpochResult>()); // and each epoch's end, once
        Assert.All(progress, p => Assert.True(p.Loss.Class > 0 && p.ImagesPerSecond > 0));
        foreach (var file in new[] { "weights/last.weights", "weights/last.weights.json", "weights/best.weights", "weights/best.weights.json", "weights/last.train.weights", "weights/last.optimizer", "args.yaml", "state.json",
            "results.png", "PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png", "confusion_matrix.png", "confusion_matrix_normalized.png", "labels.jpg",
            "train_batch0.jpg", "train_batch1.jpg", "train_batch2.jpg", "val_batch0_labels.jpg", "val_batch0_pred.jpg" })
        {
            Assert.True(File.Exists(Path.Combine(output, file)), $"{file} is missing");
        }

        // Ultralytics 8.3's results.csv, so that scripts written for it read ours.
        var csv = File.ReadAllLines(Path.Combine(output, "results.csv"));
        Assert.Equal(3, csv.Length);
        Assert.Equal("epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2", csv[0]);
        var rows = csv.Skip(1).Select(line => line.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToList();
        Assert.All(rows, row => Assert.Equal(15, row.Length));
        Assert.All(rows, row => Assert.True(row[9] > 0 && row[10] > 0 && row[11] > 0, "validation losses")); // the loss of the averaged model on val
        Assert.All(rows, row => Assert.True(row[12] > 0 && row[13] > 0 && row[14] > 0, "learning rates"));
        Assert.True(rows[1][1] > rows[0][1], "time is the run's training time so far");

        var resumed = new Trainer(options with { Epochs = 3, Resume = true }, NullLogger.Instance).Train();
        Assert.Equal([3], resumed.Select(r => r.Epoch));
        csv = File.ReadAllLines(Path.Combine(output, "results.csv"));
        Assert.Equal(4, csv.Length);
        Assert.True(double.Parse(csv[3].Split(',')[1], System.Globalization.CultureInfo.InvariantCulture) > rows[1][1], "time goes on across a resume");
        Assert.Equal(2, RunState.Load(output).Epoch);

        // As Ultralytics: a finished run is not trained again by --resume, and the user is told what to do instead.
        var finished = Assert.Throws<Core.InspectionInputException>(() => new Trainer(options with { Epochs = 3, Resume = true }, NullLogger.Instance).Train());
        Assert.Contains("has finished its 3 epochs: nothing to resume", finished.Message);
        Assert.Contains("last.weights", finished.Message);
    }

    [Fact]
    public void Patience_stops_a_run_that_has_not_improved_for_that_many_epochs()
    {
        var data = TinyDataset(["square"]);
        var output = _folder.File("patient");
        var options = new TrainOptions { Data = data, Output = output, Epochs = 2, ImageSize = 64, Batch = 6, CloseMosaic = 0, WarmupEpochs = 0 };
        new Trainer(options, NullLogger.Instance).Train();

        // A best fitness no epoch can reach, set at the first epoch: the run is two epochs past it.
        (RunState.Load(output) with { BestFitness = 2.0, BestEpoch = 0 }).Save(output);
        var resumed = new Trainer(options with { Epochs = 10, Patience = 2, Resume = true }, NullLogger.Instance).Train();

        Assert.Equal([3], resumed.Select(r => r.Epoch)); // epoch 3 is the second without improvement
        Assert.Equal(2, RunState.Load(output).Epoch);

        var unlimited = new Trainer(options with { Epochs = 4, Patience = 0, Resume = true }, NullLogger.Instance).Train();
        Assert.Equal([4], unlimited.Select(r => r.Epoch)); // patience 0 never stops early, as Ultralytics
    }

    [Fact]
    public void Args_yaml_records_the_run_and_trains_the_same_when_given_back_as_cfg()
    {
        var data = TinyDataset(["square"]);
        var output = _folder.File("args");
        var options = new TrainOptions { Data = data, Output = output, Epochs = 1, ImageSize = 64, Batch = 6, Lr0 = 0.003, CosineLr = true, CacheImages = true, Augment = new AugmentOptions { Mosaic = 0.5 } };
        new Trainer(options, NullLogger.Instance).Train();

        var args = File.ReadAllText(Path.Combine(output, "args.yaml"));
        Assert.Contains("task: detect\nmode: train\nmodel: yolov8n.yaml\n", args);
        Assert.Contains("\nlr0: 0.003\n", args);
        Assert.Contains("\ncos_lr: true\n", args);
        Assert.Contains("\ncache: ram\n", args);
        Assert.Contains("\nmosaic: 0.5\n", args);

        var read = RunArguments.Apply(new TrainOptions { Data = "", Output = output }, Path.Combine(output, "args.yaml"));
        Assert.Equal(options with { Scale = "n" }, read);
    }

    [Theory]
    [InlineData("mixup: 0.2\n", "'mixup: 0.2' in", "does not implement the mixup augmentation")]
    [InlineData("lr0: fast\n", "'lr0: fast' in", "expected a number")]
    [InlineData("learning_rate: 0.1\n", "'learning_rate: 0.1' in", "not a training setting Inspection knows")]
    [InlineData("cache: disk\n", "'cache: disk' in", "caches in RAM only")]
    [InlineData("lr0: [1, 2]\n", "line 1", "must be 'key: value'")]
    [InlineData("lr0: 0.1\n  bad: indentation\n", "is not valid YAML at line", "")]
    public void A_cfg_file_with_what_Inspection_cannot_honour_is_refused_in_one_line(string yaml, string where, string why)
    {
        var path = _folder.File("hyp.yaml");
        File.WriteAllText(path, yaml);

        var error = Assert.Throws<Core.InspectionInputException>(() => RunArguments.Apply(new TrainOptions { Data = "d", Output = "o" }, path));

        Assert.Contains(where, error.Message);
        Assert.Contains(why, error.Message);
        Assert.Contains(path, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_cfg_file_of_ultralytics_defaults_is_accepted_with_the_augmentations_it_switches_off()
    {
        var path = _folder.File("default.yaml");
        File.WriteAllText(path, "task: detect\nmode: train\nmodel: yolov8s.yaml\nepochs: 50\nworkers: 8\namp: true\ndegrees: 0.0\nmixup: 0.0\nlr0: 0.02\nhsv_h: 0.01\n");

        var options = RunArguments.Apply(new TrainOptions { Data = "d", Output = "o" }, path);

        Assert.Equal(("s", 50, 0.02, 0.01), (options.Scale, options.Epochs, options.Lr0, options.Augment.HueGain));
    }

    [Fact]
    public void Fine_tuning_with_another_class_count_keeps_all_but_the_class_head()
    {
        var output = _folder.File("first");
        new Trainer(new TrainOptions { Data = TinyDataset(["square"]), Output = output, Epochs = 1, ImageSize = 64, Batch = 6, WarmupEpochs = 0 }, NullLogger.Instance).Train();
        var checkpoint = Path.Combine(output, "weights", "best.weights");
        Assert.Equal(["square"], Checkpoint.ReadDescription(checkpoint).Names);

        using var model = new DetectionModel(ModelScale.N, ["square", "circle", "crack"]);
        using var before = model.state_dict()["model.22.cv3.0.2.weight"].clone();
        var transfer = StartingWeights.Apply(model, checkpoint, NullLogger.Instance);
        using var source = new DetectionModel(ModelScale.N, ["square"]);
        source.load(checkpoint);

        Assert.True(model.state_dict()["model.0.conv.weight"].allclose(source.state_dict()["model.0.conv.weight"]));
        Assert.True(model.state_dict()["model.22.cv3.0.2.weight"].allclose(before)); // a 3-class head cannot take 1-class weights
        Assert.Equal((349, 355), (transfer.Copied, transfer.Total));
        Assert.Equal(["model.22.cv3.0.2.weight", "model.22.cv3.0.2.bias", "model.22.cv3.1.2.weight", "model.22.cv3.1.2.bias", "model.22.cv3.2.2.weight", "model.22.cv3.2.2.bias"], transfer.Fresh);
        Assert.True(model.state_dict()["model.22.cv3.0.0.conv.weight"].allclose(source.state_dict()["model.22.cv3.0.0.conv.weight"]));
    }

    [Fact]
    public async Task A_metrics_port_already_taken_is_one_line_and_exit_2_before_any_training()
    {
        var data = TinyDataset(["square"]);
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var result = await CliRunner.RunAsync("train", "--data", data, "--epochs", "1", "--imgsz", "64", "--batch", "6", "--out", _folder.File("taken"), "--metrics-url", $"http://127.0.0.1:{port}");
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"--metrics-url http://127.0.0.1:{port}/: cannot listen there", line, StringComparison.Ordinal);
        Assert.EndsWith("choose a free port.", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Training_serves_its_progress_as_metrics_while_it_runs_and_publishes_each_epoch_over_mqtt()
    {
        var data = TinyDataset(["square"]);
        using var broker = ServerProcess.Mosquitto(_folder.Path);
        using var subscriber = new MosquittoSub(broker.Port, "inspection/site/line/service/training", "training-sub");
        await Waiting.WaitUntil(
            () =>
            {
                using var probe = System.Diagnostics.Process.Start("mosquitto_pub", ["-h", "127.0.0.1", "-p", broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-t", "inspection/site/line/service/training", "-m", "probe"])!;
                probe.WaitForExit();
                return subscriber.Count > 0;
            },
            "mosquitto_sub subscribed",
            TimeSpan.FromSeconds(20));

        var port = ServerProcess.FreePort();
        var run = CliRunner.RunAsync("train", "--data", data, "--epochs", "4", "--imgsz", "64", "--batch", "6", "--out", _folder.File("observed"),
            "--metrics-url", $"http://127.0.0.1:{port}", "--mqtt-host", "127.0.0.1", "--mqtt-port", broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // Scraped while it runs, as Prometheus would: the trainer's own series, in valid exposition format.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        string? scraped = null;
        while (!run.IsCompleted)
        {
            try
            {
                var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
                if (text.Contains("\ninspection_training_epoch 1", StringComparison.Ordinal) || text.Contains("\ninspection_training_epoch 2", StringComparison.Ordinal))
                {
                    scraped = text;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet, or already gone
            }

            await Task.Delay(20);
        }

        var result = await run;
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.NotNull(scraped);
        foreach (var series in new[] { "inspection_training_epochs 4", "inspection_training_loss{split=\"train\",loss=\"box\"}", "inspection_training_images_per_second", "inspection_training_eta_seconds", "inspection_training_device_memory_bytes{device=\"", "inspection_training_map50 " })
        {
            Assert.Contains(series, scraped, StringComparison.Ordinal);
        }

        var check = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("promtool", ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await check.StandardInput.WriteAsync(scraped);
        check.StandardInput.Close();
        var complaints = await check.StandardError.ReadToEndAsync() + await check.StandardOutput.ReadToEndAsync();
        await check.WaitForExitAsync();
        Assert.True(check.ExitCode == 0, complaints);

        // One summary per epoch, in order, with the figures results.csv has.
        await Waiting.WaitUntil(() => subscriber.Count >= 5, "four epoch summaries", TimeSpan.FromSeconds(20));
        var epochs = subscriber.Snapshot().Where(l => !l.EndsWith(" probe", StringComparison.Ordinal)).Select(l => System.Text.Json.JsonDocument.Parse(l[(l.IndexOf(' ', StringComparison.Ordinal) + 1)..]).RootElement).ToList();
        Assert.Equal([1, 2, 3, 4], epochs.Select(e => e.GetProperty("epoch").GetInt32()));
        Assert.All(epochs, e => Assert.InRange(e.GetProperty("mAP50").GetDouble(), 0, 1));
        // An epoch of this tiny set may assign no anchor at all (every alignment metric 0 while the boxes are still
        // far off), and its box loss is then 0, as Ultralytics' is: some epoch must have one, none a negative one.
        Assert.All(epochs, e => Assert.True(e.GetProperty("loss").GetProperty("box").GetDouble() >= 0));
        Assert.Contains(epochs, e => e.GetProperty("loss").GetProperty("box").GetDouble() > 0);
    }

    [Fact]
    public async Task Train_val_and_export_work_from_the_command_line()
    {
        // Without --out, runs go where Ultralytics puts them: PROJECT/train, then train2.
        var data = TinyDataset(["square"]);
        var project = _folder.File("runs");
        var train = await CliRunner.RunAsync("train", "--data", data, "--epochs", "1", "--imgsz", "64", "--batch", "6", "--project", project);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("1 epochs: mAP50", train.Stdout);
        var run = Path.Combine(project, "train");
        Assert.True(File.Exists(Path.Combine(run, "weights", "last.weights")), train.Stdout);
        var again = await CliRunner.RunAsync("train", "--data", data, "--epochs", "1", "--imgsz", "64", "--batch", "6", "--project", project, "--lr0", "0.02", "--cos-lr", "--patience", "5");
        Assert.True(again.ExitCode == 0, again.Stderr);
        var args = File.ReadAllText(Path.Combine(project, "train2", "args.yaml"));
        Assert.Contains("\nlr0: 0.02\n", args);
        Assert.Contains("\ncos_lr: true\n", args);
        Assert.Contains("\npatience: 5\n", args);

        // --resume alone continues the latest run with its own settings (args.yaml); --epochs extends it.
        var resumed = await CliRunner.RunAsync("train", "--resume", "--project", project, "--epochs", "2");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(project, "train2", "results.csv")).Length);
        Assert.Contains("epoch 2 (resumed): mAP50", resumed.Stdout); // what this process trained, not the run's whole count
        Assert.Equal(2, File.ReadAllLines(Path.Combine(project, "train", "results.csv")).Length);

        var weights = Path.Combine(run, "weights", "best.weights");
        var val = await CliRunner.RunAsync("val", "--weights", weights, "--data", data, "--json");
        Assert.True(val.ExitCode == 0, val.Stderr);
        using (var json = System.Text.Json.JsonDocument.Parse(val.Stdout))
        {
            foreach (var key in new[] { "mAP50", "mAP50_95", "precision", "recall" })
            {
                Assert.InRange(json.RootElement.GetProperty(key).GetDouble(), 0, 1);
            }

            Assert.True(json.RootElement.GetProperty("perClass").TryGetProperty("square", out _));
        }

        var onnx = _folder.File("square.onnx");
        var export = await CliRunner.RunAsync("export", "--weights", weights, "--out", onnx);
        Assert.True(export.ExitCode == 0, export.Stderr);
        await using var detector = Inference.YoloDetector.Open(new Inference.DetectorOptions { ModelPath = onnx, Providers = [Inference.ExecutionProvider.Cpu] });
        Assert.Equal(["square"], detector.Model.Names);

        var wrong = await CliRunner.RunAsync("train", "--data", _folder.File("absent.yaml"), "--out", run);
        Assert.Equal(2, wrong.ExitCode);
        Assert.DoesNotContain("   at ", wrong.Stderr);
    }

    [Fact]
    public async Task A_run_folder_that_cannot_be_written_is_one_line_and_exit_2()
    {
        var file = _folder.File("not-a-folder");
        File.WriteAllText(file, "a file where the runs would go");

        var train = await CliRunner.RunAsync("train", "--data", TinyDataset(["square"]), "--epochs", "1", "--imgsz", "64", "--project", Path.Combine(file, "runs"));

        Assert.Equal(2, train.ExitCode);
        Assert.Contains($"The run folder '{Path.Combine(file, "runs", "train")}' cannot be written", train.Stderr);
        Assert.Contains("give --project or --out a writable folder", train.Stderr);
        Assert.DoesNotContain("   at ", train.Stderr);
    }

    [Fact]
    public void Resuming_a_folder_without_a_run_says_so()
    {
        var e = Assert.Throws<Core.InspectionInputException>(() => new Trainer(new TrainOptions { Data = TinyDataset(["a"]), Output = _folder.File("empty"), Resume = true, ImageSize = 64 }, NullLogger.Instance).Train());
        Assert.Contains("Nothing to resume", e.Message);
    }
}

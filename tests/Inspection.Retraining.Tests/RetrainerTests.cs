using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.Core;
using Inspection.Datasets;
using Inspection.Models;
using Inspection.Retraining;
using Inspection.TestSupport;
using Inspection.Training.Data;
using Inspection.Training.Engine;
using Inspection.Training.Nn;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Retraining.Tests;

public sealed class RetrainerTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_run_that_makes_the_model_worse_is_registered_but_not_promoted_and_its_report_says_why()
    {
        // Version 1 learns bright squares; the "new data" says every picture is empty, which teaches it to find nothing.
        var squares = Squares("squares", labelled: true);
        var empty = Squares("empty", labelled: false);
        var v1 = new TrainOptions
        {
            Data = squares, Output = _folder.File("v1"), Epochs = 40, ImageSize = 64, Batch = 6, NominalBatch = 6, Lrf = 1,
            Augment = AugmentOptions.None, CloseMosaic = 0, WarmupEpochs = 0, Optimizer = "AdamW", Lr0 = 0.01,
        };
        new Trainer(v1, NullLogger.Instance).Train();
        var registry = new ModelRegistry(_folder.File("registry"));
        var onnx = _folder.File("v1.onnx");
        var weights = Path.Combine(v1.Output, "weights", "best.weights");
        using (var model = new Inspection.Training.Nn.DetectionModel(Inspection.Training.Nn.ModelScale.N, ["square"]))
        {
            model.load(weights);
            Inspection.Training.Export.OnnxExporter.Export(model, 64, onnx);
        }

        var first = registry.Register("squares", onnx, new ModelCard { Name = "squares", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["square"], ImageSize = 64 }, weights);
        registry.Promote("squares", first.Version);

        var phases = new List<RetrainPhase>();
        var report = await new Retrainer(new RetrainOptions
        {
            Registry = registry.Root, Name = "squares", Data = empty, Holdout = squares, Output = _folder.File("runs"),
            Epochs = 8, Batch = 6, NominalBatch = 6, Optimizer = "AdamW", Lr0 = 0.01, WarmupEpochs = 0, // a step per batch of six
        }, NullLogger.Instance, phase: phases.Add).RunAsync();

        Assert.False(report.Promoted, report.Decision);
        Assert.Equal(Enum.GetValues<RetrainPhase>(), phases); // each phase told once, in order
        Assert.True(report.Current.Fitness > report.Candidate.Fitness, $"{report.Current} vs {report.Candidate}");
        Assert.Equal(1, registry.Pointer("squares")!.Version); // version 1 stays current
        Assert.Equal(2, registry.Versions("squares").Count);   // the candidate is kept, for a look
        Assert.Equal(1, registry.Get("squares", 2).Card.Parent);
        var markdown = File.ReadAllText(Path.Combine(report.RunFolder, "report.md"));
        Assert.Contains("not promoted: fitness", markdown);
        Assert.Contains("below version 1's", markdown);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report.RunFolder, "report.json"))).RootElement;
        Assert.False(json.GetProperty("promoted").GetBoolean());
        Assert.Equal(6, json.GetProperty("baseImages").GetInt32());
    }

    [Fact]
    public async Task Two_runs_never_overlap_the_refused_one_names_the_holder_and_a_released_lock_lets_the_next_run_in()
    {
        var registry = OneVersion();
        var lockFile = Path.Combine(registry.Root, "x", Retrainer.LockFile);
        Task<RetrainReport> Run() => new Retrainer(new RetrainOptions { Registry = registry.Root, Name = "x", Data = _folder.File("no-data"), Output = _folder.File("runs") }, NullLogger.Instance).RunAsync();

        using (RunLock.Acquire(lockFile, "retraining run of 'x'"))
        {
            var refused = await Assert.ThrowsAsync<InspectionInputException>(Run);
            Assert.Contains($"another retraining run of 'x' is in progress (process {Environment.ProcessId}, started {DateTimeOffset.UtcNow:yyyy-MM-dd} ", refused.Message);
        }

        // Released: the next run takes the lock and gets as far as its (missing) data; the file stays, naming it.
        var next = await Assert.ThrowsAsync<InspectionInputException>(Run);
        Assert.Contains("no-data", next.Message);
        Assert.StartsWith($"{Environment.ProcessId} ", File.ReadAllText(lockFile));
    }

    [SkippableFact]
    public async Task A_run_in_another_process_holds_the_lock_until_it_is_killed_and_then_blocks_nothing()
    {
        // A real 'inspection retrain' on NEU-DET: loading and linking 1,800 images, then training, keep it inside the lock.
        var neu = SharedData.Require("datasets/neu-det");
        var registry = new ModelRegistry(_folder.File("registry"));
        // A real (untrained) checkpoint: the run goes on to train inside the lock rather than fail quickly and release it.
        var names = DatasetLoader.Load(neu, verifyImages: false).Names;
        using (var model = new DetectionModel(ModelScale.N, names))
        {
            model.save(_folder.File("m.weights"));
        }

        Checkpoint.WriteDescription(_folder.File("m.weights"), new RunState { Scale = "n", Names = [.. names], ImageSize = 64 });
        File.WriteAllText(_folder.File("m.onnx"), "model");
        registry.Register("neu", _folder.File("m.onnx"), new ModelCard { Name = "neu", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = names }, _folder.File("m.weights"));
        registry.Promote("neu", 1);
        var lockFile = Path.Combine(registry.Root, "neu", Retrainer.LockFile);
        string[] retrain = ["retrain", "--registry", registry.Root, "--name", "neu", "--data", neu, "--out", _folder.File("runs")];

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in retrain.Prepend(CliRunner.CliPath))
        {
            start.ArgumentList.Add(argument);
        }

        using var holder = Process.Start(start)!;
        var holderError = holder.StandardError.ReadToEndAsync();
        _ = holder.StandardOutput.ReadToEndAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            while (!RunLock.Holder(lockFile).Contains($"process {holder.Id},", StringComparison.Ordinal))
            {
                Assert.False(holder.HasExited, $"the first run ended before it was seen holding the lock: {await holderError}");
                if (clock.Elapsed > TimeSpan.FromMinutes(3)) // a hang guard: a loaded machine starts a process slowly
                {
                    holder.Kill();
                    Assert.Fail($"the first run never took the lock: {await holderError}");
                }

                await Task.Delay(20); // polling without a pause took a core from the starting run on a 2-core machine
            }

            Signal(holder, "-STOP"); // frozen inside its run, the lock held

            var refused = await CliRunner.RunAsync(retrain);
            Assert.Equal(2, refused.ExitCode);
            Assert.True(
                (refused.Stderr + refused.Stdout).Contains($"another retraining run of 'neu' is in progress (process {holder.Id}, started {DateTimeOffset.UtcNow:yyyy-MM-dd} ", StringComparison.Ordinal),
                $"the second run was not refused for the lock; it printed:\n{refused.Stderr}\n{refused.Stdout}");
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync();
        }

        // Killed mid-run: the kernel dropped its lock; its line is still in the file, and blocks nothing.
        Assert.StartsWith($"{holder.Id} ", File.ReadAllText(lockFile));
        using (RunLock.Acquire(lockFile, "retraining run of 'neu'"))
        {
            Assert.StartsWith($"process {Environment.ProcessId}, started ", RunLock.Holder(lockFile));
        }
    }

    [Fact]
    public async Task A_run_with_a_signing_key_does_not_start_from_a_version_that_key_did_not_sign()
    {
        var registry = OneVersion();
        var keys = SigningKeys.Generate(_folder.File("keys"));
        var options = new RetrainOptions { Registry = registry.Root, Name = "x", Data = _folder.Path, Output = _folder.File("runs"), SignKey = keys.PrivateKeyPath };

        var unsigned = await Assert.ThrowsAsync<InspectionInputException>(() => new Retrainer(options, NullLogger.Instance).RunAsync());
        Assert.Contains("x version 1 is not signed", unsigned.Message);
        using (var key = SigningKeys.LoadPrivateKey(keys.PrivateKeyPath))
        {
            ModelSignature.Sign(registry.Get("x", 1), key);
        }

        File.AppendAllText(registry.Get("x", 1).CheckpointPath!, " tampered");
        var tampered = await Assert.ThrowsAsync<InspectionInputException>(() => new Retrainer(options, NullLogger.Instance).RunAsync());
        Assert.Contains("m.weights differs", tampered.Message);
        var wrongKey = await Assert.ThrowsAsync<InspectionInputException>(() => new Retrainer(options with { SignKey = keys.PublicKeyPath }, NullLogger.Instance).RunAsync());
        Assert.Contains("is a public key", wrongKey.Message);
        Assert.Empty(Directory.Exists(_folder.File("runs")) ? Directory.GetDirectories(_folder.File("runs")) : []);
    }

    [Fact]
    public async Task A_schedule_runs_one_run_at_a_time_and_goes_on_after_any_failed_run()
    {
        var schedule = new RetrainSchedule("* * * * * *"); // every second
        var logger = new RecordingLogger();
        var (running, overlaps, runs) = (0, 0, 0);
        using var stop = new CancellationTokenSource();
        await schedule.RunAsync(async _ =>
        {
            overlaps += Interlocked.Increment(ref running) > 1 ? 1 : 0;
            runs++;
            await Task.Delay(runs == 1 ? 1500 : 10); // the first outlasts its slot
            Interlocked.Decrement(ref running);
            switch (runs)
            {
                case 1: throw new InspectionInputException("the dataset is gone");
                case 2: throw new IOException("No space left on device");
                case 3: throw new InvalidOperationException("libtorch: CUDA error: an illegal memory access was encountered");
                default: await stop.CancelAsync(); break;
            }
        }, logger, stop.Token).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(4, runs);
        Assert.Equal(0, overlaps);
        Assert.Equal((4, 3), (schedule.Runs, schedule.FailedRuns));
        var failures = logger.Entries.Where(e => e.Level == LogLevel.Error).ToList();
        Assert.Equal(3, failures.Count);
        Assert.All(failures, f => Assert.Matches(@"^Retraining run of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \(started \d\d:\d\d:\d\d\) failed", f.Message));
        Assert.Contains("failed, 1 of 1 runs so far; the schedule goes on: the dataset is gone", failures[0].Message);
        Assert.Null(failures[0].Exception); // a user's mistake: its message says it all
        Assert.Contains("2 of 2 runs so far; the schedule goes on: IOException: No space left on device", failures[1].Message);
        Assert.IsType<IOException>(failures[1].Exception);
        Assert.Contains("3 of 3 runs so far; the schedule goes on: InvalidOperationException: libtorch", failures[2].Message);
        Assert.NotNull(failures[2].Exception); // logged with its stack
        Assert.Contains("not a cron expression", Assert.Throws<InspectionInputException>(() => new RetrainSchedule("every night")).Message);
    }

    [Fact]
    public void Review_moves_accepted_and_rejected_items_and_relabels_in_place()
    {
        var evidence = Directory.CreateDirectory(_folder.File("evidence")).FullName;
        foreach (var name in new[] { "a", "b", "c" })
        {
            Directory.CreateDirectory(Path.Combine(evidence, "images"));
            Directory.CreateDirectory(Path.Combine(evidence, "labels"));
            Directory.CreateDirectory(Path.Combine(evidence, "meta"));
            File.WriteAllBytes(Path.Combine(evidence, "images", name + ".jpg"), [1]);
            File.WriteAllText(Path.Combine(evidence, "labels", name + ".txt"), "0 0.5 0.5 0.1 0.1\n");
            File.WriteAllText(Path.Combine(evidence, "meta", name + ".json"), $"{{\"camera\":\"c1\",\"verdict\":\"NG\",\"captureTime\":\"2026-11-28T10:00:00Z\",\"detections\":[{{\"class\":\"crack\",\"score\":0.8}}]}}");
        }

        var review = new EvidenceReview(evidence);
        Assert.Equal(["a", "b", "c"], review.Pending().Select(p => p.Name));
        review.Accept("a");
        review.Reject("b");
        review.Relabel("c", ["0 0.2 0.3 0.1 0.2"]);
        Assert.Empty(review.Pending());
        Assert.True(File.Exists(Path.Combine(evidence, "reviewed", "images", "a.jpg")));
        Assert.True(File.Exists(Path.Combine(evidence, "rejected", "meta", "b.json")));
        Assert.Equal("0 0.2 0.3 0.1 0.2\n", File.ReadAllText(Path.Combine(evidence, "reviewed", "labels", "c.txt")));
        Assert.Throws<InspectionInputException>(() => review.Accept("../../etc/passwd"));
        Assert.Throws<InspectionInputException>(() => review.Relabel("a", ["0 1.5 0.5 0.1 0.1"]));
    }

    [SkippableFact]
    public async Task Reviewed_evidence_is_a_dataset_with_the_evidences_awkward_class_names_and_relabels_are_checked_against_them()
    {
        var evidence = Evidence(SharedData.Require("datasets/workpiece-crack/train/images"), ["a", "b", "c"]);
        new YoloDatasetWriter(evidence).WriteDataYaml(PyYaml.AwkwardNames, "images", "images", "as the worker writes it");

        var review = new EvidenceReview(evidence);
        review.Accept("a");
        review.Relabel("c", ["7 0.5 0.5 0.2 0.1"]); // class 7 is named "no"
        var e = Assert.Throws<InspectionInputException>(() => review.Relabel("b", ["28 0.5 0.5 0.2 0.1"]));
        Assert.Contains("has classes 0..27", e.Message);

        var reviewedYaml = Path.Combine(evidence, "reviewed", "data.yaml");
        Assert.Equal(PyYaml.AwkwardNames, DatasetLoader.ClassNames(reviewedYaml));
        Assert.Equal(PyYaml.AwkwardNames, await PyYaml.NamesAsync(reviewedYaml));
        var reviewed = review.Reviewed();
        Assert.Equal(["a.jpg", "c.jpg"], reviewed.Select(i => Path.GetFileName(i.ImagePath)));
        Assert.Equal(["0 0.5 0.5 0.2 0.1\n", "7 0.5 0.5 0.2 0.1\n"], reviewed.Select(i => YoloDatasetWriter.LabelText(i.Boxes)));
        Assert.True(DatasetLoader.Load(reviewedYaml).Usable);
    }

    [SkippableFact]
    public void Pseudo_labels_come_from_meta_files_old_with_unrounded_boxes_and_new_as_DetectionJson_writes_them()
    {
        var evidence = Evidence(SharedData.Require("datasets/workpiece-crack/train/images"), ["old", "new"]);
        var detections = new[] { new Detection(0, 0.81234f, new BoundingBox(120.53912f, 88.21777f, 180.10331f, 140.72451f)), new Detection(0, 0.2f, new BoundingBox(1, 1, 30, 30)), new Detection(1, 0.9f, new BoundingBox(-5, 200, 60, 330)) };
        var old = string.Join(",", detections.Select(d => FormattableString.Invariant($$"""{"classId":{{d.ClassId}},"class":"{{(d.ClassId == 0 ? "crack" : "hole")}}","score":{{Math.Round(d.Score, 4)}},"box":[{{d.Box.X1}},{{d.Box.Y1}},{{d.Box.X2}},{{d.Box.Y2}}]}""")));
        File.WriteAllText(Path.Combine(evidence, "meta", "old.json"), $$"""{"camera":"c1","sequence":1,"captureTime":"2026-11-28T10:00:00Z","verdict":"NG","detections":[{{old}}]}""");
        using (var file = File.Create(Path.Combine(evidence, "meta", "new.json")))
        using (var json = new Utf8JsonWriter(file))
        {
            json.WriteStartObject();
            DetectionJson.WriteArray(json, "detections", detections, id => id == 0 ? "crack" : "hole");
            json.WriteEndObject();
        }

        Assert.Contains("120.53912", File.ReadAllText(Path.Combine(evidence, "meta", "old.json")));
        Assert.Contains("[120.5,88.2,180.1,140.7]", File.ReadAllText(Path.Combine(evidence, "meta", "new.json")));

        // The model knows crack and hole; at 0.5 the 0.2 detection is left out. The images are 320x320.
        var labelled = new EvidenceReview(evidence).PseudoLabelled(["crack", "hole"], 0.5).ToList();
        Assert.Equal(["new.jpg", "old.jpg"], labelled.Select(i => Path.GetFileName(i.ImagePath)));
        var (fromNew, fromOld) = (labelled[0].Boxes, labelled[1].Boxes);
        Assert.Equal([0, 1], fromOld.Select(b => b.ClassId));
        Assert.Equal(new BoundingBox(120.53912f / 320, 88.21777f / 320, 180.10331f / 320, 140.72451f / 320), fromOld[0].Box);
        Assert.Equal(new BoundingBox(0, 200f / 320, 60f / 320, 1), fromOld[1].Box); // clipped to the picture
        foreach (var (a, b) in fromOld.Zip(fromNew))
        {
            Assert.Equal(a.ClassId, b.ClassId);
            Assert.True(Math.Abs(a.Box.X1 - b.Box.X1) + Math.Abs(a.Box.Y1 - b.Box.Y1) + Math.Abs(a.Box.X2 - b.Box.X2) + Math.Abs(a.Box.Y2 - b.Box.Y2) <= 4 * 0.05 / 320, $"{a} against {b}");
        }

        Assert.Empty(new EvidenceReview(evidence).PseudoLabelled(["crack", "hole"], 0.95).SelectMany(i => i.Boxes));
    }

    /// <summary>An evidence folder as the worker leaves it: real 320x320 pictures, one box each, and meta files.</summary>
    private string Evidence(string pictures, string[] names)
    {
        var evidence = _folder.File("evidence");
        var writer = new YoloDatasetWriter(evidence);
        var (images, _) = writer.CreateFolders();
        Directory.CreateDirectory(Path.Combine(evidence, "meta"));
        foreach (var (name, picture) in names.Zip(Directory.GetFiles(pictures, "*.jpg").Order(StringComparer.Ordinal)))
        {
            File.Copy(picture, Path.Combine(images, name + ".jpg"));
            YoloDatasetWriter.WriteLabels(Path.Combine(images, name + ".jpg"), [LabeledBox.FromCenter(0, 0.5f, 0.5f, 0.2f, 0.1f)]);
            File.WriteAllText(Path.Combine(evidence, "meta", name + ".json"), """{"camera":"c1","verdict":"NG","captureTime":"2026-11-28T10:00:00Z","detections":[]}""");
        }

        return evidence;
    }

    /// <summary>Six dark 64x64 pictures with bright squares, in one folder used for train and val; labelled, or all declared empty.</summary>
    private string Squares(string name, bool labelled)
    {
        var images = Directory.CreateDirectory(_folder.File($"{name}/images")).FullName;
        var labels = Directory.CreateDirectory(_folder.File($"{name}/labels")).FullName;
        var random = new Random(7);
        for (var i = 0; i < 6; i++)
        {
            using var image = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(25));
            var (x, y, w, h) = (random.Next(4, 36), random.Next(4, 36), random.Next(12, 24), random.Next(12, 24));
            image.Rectangle(new Rect(x, y, w, h), Scalar.All(230), -1);
            Cv2.ImWrite(Path.Combine(images, $"{i}.png"), image);
            File.WriteAllText(Path.Combine(labels, $"{i}.txt"), labelled ? FormattableString.Invariant($"0 {(x + (w / 2.0)) / 64:0.######} {(y + (h / 2.0)) / 64:0.######} {w / 64.0:0.######} {h / 64.0:0.######}\n") : string.Empty);
        }

        File.WriteAllText(_folder.File($"{name}/data.yaml"), "train: images\nval: images\nnames: ['square']\n");
        return _folder.File($"{name}/data.yaml");
    }

    /// <summary>A registry whose model 'x' has one current version (a stand-in file, with a checkpoint): enough for what fails before training.</summary>
    private ModelRegistry OneVersion()
    {
        var registry = new ModelRegistry(_folder.File("registry"));
        var model = _folder.File("m.onnx");
        File.WriteAllText(model, "model");
        var checkpoint = _folder.File("m.weights");
        File.WriteAllText(checkpoint, "weights");
        registry.Register("x", model, new ModelCard { Name = "x", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["a"] }, checkpoint);
        registry.Promote("x", 1);
        return registry;
    }

    private static void Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", [signal, process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    private sealed class RecordingLogger : ILogger
    {
        public List<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries)
            {
                Entries.Add((logLevel, formatter(state, exception), exception));
            }
        }
    }
}

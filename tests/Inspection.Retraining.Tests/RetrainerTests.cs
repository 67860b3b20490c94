using System.Text.Json;
using Inspection.Core;
using Inspection.Models;
using Inspection.Retraining;
using Inspection.TestSupport;
using Inspection.Training.Data;
using Inspection.Training.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

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

        var report = await new Retrainer(new RetrainOptions
        {
            Registry = registry.Root, Name = "squares", Data = empty, Holdout = squares, Output = _folder.File("runs"),
            Epochs = 8, Batch = 6, NominalBatch = 6, Optimizer = "AdamW", Lr0 = 0.01, WarmupEpochs = 0, // a step per batch of six
        }, NullLogger.Instance).RunAsync();

        Assert.False(report.Promoted, report.Decision);
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
    public async Task Two_runs_never_overlap()
    {
        var registry = OneVersion();
        using var held = new FileStream(Path.Combine(registry.Root, "x", Retrainer.LockFile), FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        var e = await Assert.ThrowsAsync<InspectionInputException>(() => new Retrainer(new RetrainOptions { Registry = registry.Root, Name = "x", Data = _folder.Path, Output = _folder.File("runs") }, NullLogger.Instance).RunAsync());
        Assert.Contains("another retraining run of 'x' is in progress", e.Message);
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
    public async Task A_schedule_runs_one_run_at_a_time_and_goes_on_after_a_failed_run()
    {
        var schedule = new RetrainSchedule("* * * * * *"); // every second
        var (running, overlaps, runs) = (0, 0, 0);
        using var stop = new CancellationTokenSource();
        await schedule.RunAsync(async _ =>
        {
            overlaps += Interlocked.Increment(ref running) > 1 ? 1 : 0;
            runs++;
            await Task.Delay(1500); // longer than its slot
            Interlocked.Decrement(ref running);
            if (runs == 1)
            {
                throw new InspectionInputException("the dataset is gone");
            }

            if (runs == 3)
            {
                await stop.CancelAsync();
            }
        }, NullLogger.Instance, stop.Token).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(3, runs);
        Assert.Equal(0, overlaps);
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
}

using Inspection.Datasets;
using Inspection.TestSupport;
using Inspection.Core;
using Inspection.Training.Data;
using Inspection.Training.Engine;
using Inspection.Training.Nn;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

public sealed class ValidatorTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>64-pixel dark images with a bright square, labelled where <paramref name="labelled"/> says, as a YOLO dataset's val split.</summary>
    private DatasetSplit Squares(int count, Func<int, bool> labelled)
    {
        var images = Directory.CreateDirectory(_folder.File("images")).FullName;
        var labels = Directory.CreateDirectory(_folder.File("labels")).FullName;
        for (var i = 0; i < count; i++)
        {
            using var picture = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(30));
            picture.Rectangle(new Rect(16, 16, 24, 24), Scalar.All(220), -1);
            Cv2.ImWrite(Path.Combine(images, $"{i}.png"), picture);
            File.WriteAllText(Path.Combine(labels, $"{i}.txt"), labelled(i) ? "0 0.4375 0.4375 0.375 0.375\n" : "");
        }

        File.WriteAllText(_folder.File("data.yaml"), "train: images\nval: images\nnames: ['square']\n");
        return DatasetLoader.Load(_folder.File("data.yaml")).Splits["val"];
    }

    [Fact]
    public void Validation_draws_its_first_three_batches_with_labels_and_with_predictions()
    {
        var split = Squares(10, _ => true);
        using var model = new DetectionModel(ModelScale.N, ["square"]);
        var output = Directory.CreateDirectory(_folder.File("run")).FullName;

        Validator.Evaluate(model, split, imageSize: 64, CPU, batchSize: 4, plotDirectory: output); // batches of 4, 4 and 2

        Assert.Equal(
            ["val_batch0_labels.jpg", "val_batch0_pred.jpg", "val_batch1_labels.jpg", "val_batch1_pred.jpg", "val_batch2_labels.jpg", "val_batch2_pred.jpg"],
            Directory.GetFiles(output).Select(Path.GetFileName).Order());
        using var lastLabels = Cv2.ImRead(Path.Combine(output, "val_batch2_labels.jpg"));
        Assert.Equal(new OpenCvSharp.Size(128, 128), lastLabels.Size()); // two images still make a 2 x 2 grid
    }

    [Fact]
    public void A_batch_of_background_images_only_is_evaluated_and_drawn()
    {
        // Batches of two: the first has the one labelled image, the second only background (no label tensor data at all).
        var split = Squares(4, i => i == 0);
        using var model = new DetectionModel(ModelScale.N, ["square"]);
        var output = Directory.CreateDirectory(_folder.File("run")).FullName;

        var scores = Validator.Evaluate(model, split, imageSize: 64, CPU, batchSize: 2, plotDirectory: output);

        Assert.Equal([0], scores.PerClass.Keys);
        Assert.True(File.Exists(Path.Combine(output, "val_batch1_labels.jpg")));
    }

    [Fact]
    public void Predictions_are_clipped_to_the_picture_not_to_its_letterbox_padding()
    {
        // A 64 x 32 image letterboxed to 64: the picture is rows 16-48. A box reaching past it on every side is scored
        // as Ultralytics scores it after scale_boxes clips it to the source image (and as the engine serves it).
        var images = Directory.CreateDirectory(_folder.File("images")).FullName;
        using (var picture = new Mat(32, 64, MatType.CV_8UC3, Scalar.All(30)))
        {
            Cv2.ImWrite(Path.Combine(images, "wide.png"), picture);
        }

        File.WriteAllText(_folder.File("data.yaml"), "train: images\nval: images\nnames: ['square']\n");
        var split = DatasetLoader.Load(_folder.File("data.yaml")).Splits["val"];
        using var batch = new DetectionLoader(split, 1, 64, AugmentOptions.None).Epoch(0, shuffle: false, mosaic: false).Single();
        using var predictions = tensor(new float[] { 30, 36, 80, 50, 0.9f }, [1, 5, 1]); // cx, cy, w, h, score of one anchor

        var box = Validator.Evaluations(predictions, batch, classes: 1).Single().Predictions.Single().Box;

        Assert.Equal(new BoundingBox(0, 16, 64, 48), box);
    }
}

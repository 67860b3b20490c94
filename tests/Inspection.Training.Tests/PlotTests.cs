using Inspection.Core;
using Inspection.TestSupport;
using Inspection.Training.Data;
using Inspection.Training.Utils;
using OpenCvSharp;
using static TorchSharp.torch;
using Size = OpenCvSharp.Size;

namespace Inspection.Training.Tests;

/// <summary>The run's pictures: written where Ultralytics writes them, decodable, and showing what they should (read back from pixels).</summary>
public sealed class PlotTests : IDisposable
{
    private static readonly string[] Names = ["crack", "dent", "scratch"];
    private static readonly BoundingBox A = new(0, 0, 10, 10);
    private static readonly BoundingBox B = new(20, 20, 40, 40);
    private static readonly BoundingBox Far = new(50, 50, 60, 60);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Three classes: two found with false alarms among the hits (a different PR curve each), one never predicted.</summary>
    private static DetectionScores Scores()
    {
        static ImageEvaluation Image((int Class, float Score, BoundingBox Box)[] predictions, (int, BoundingBox)[] labels) =>
            new(predictions.OrderByDescending(p => p.Score).Select(p => new Detection(p.Class, p.Score, p.Box)).ToList(), labels);
        return DetMetrics.Evaluate(
        [
            Image([(0, 0.95f, A), (0, 0.8f, Far), (1, 0.7f, Far), (1, 0.4f, B)], [(0, A), (1, B)]),
            Image([(0, 0.5f, B), (1, 0.2f, A), (0, 0.15f, Far)], [(0, B), (1, A), (2, Far)]),
        ]);
    }

    /// <summary>Pixels within a tolerance of a colour (anti-aliasing and JPEG move colours a little), in a region.</summary>
    private static List<Point> PixelsOf(Mat image, Scalar colour, Rect region, int tolerance = 40)
    {
        var found = new List<Point>();
        var rows = image.AsRows<Vec3b>();
        for (var y = region.Top; y < region.Bottom; y++)
        {
            var row = rows[y];
            for (var x = region.Left; x < region.Right; x++)
            {
                var p = row[x];
                if (Math.Abs(p.Item0 - colour.Val0) + Math.Abs(p.Item1 - colour.Val1) + Math.Abs(p.Item2 - colour.Val2) <= tolerance)
                {
                    found.Add(new Point(x, y));
                }
            }
        }

        return found;
    }

    private static Mat Read(string path)
    {
        Assert.True(File.Exists(path), $"{Path.GetFileName(path)} was not written");
        var image = Cv2.ImRead(path, ImreadModes.Color);
        Assert.False(image.Empty(), $"{Path.GetFileName(path)} does not decode");
        return image;
    }

    [Fact]
    public void Curves_show_each_class_and_the_all_classes_mean_inside_their_axes()
    {
        var scores = Scores();
        Plotting.PlotPrCurve(scores, Names, _folder.File("PR_curve.png"));
        Plotting.PlotMcCurve(scores.F1AtConfidence, Names, _folder.File("F1_curve.png"), "F1");
        Plotting.PlotMcCurve(scores.PrecisionAtConfidence, Names, _folder.File("P_curve.png"), "Precision");
        Plotting.PlotMcCurve(scores.RecallAtConfidence, Names, _folder.File("R_curve.png"), "Recall");

        var plotArea = new Rect(81, 51, 598, 478); // the axes' inside, left of the legend
        foreach (var file in new[] { "PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png" })
        {
            using var image = Read(_folder.File(file));
            Assert.Equal(new Size(1000, 600), image.Size());
            Assert.True(PixelsOf(image, Palette.Of(0), plotArea).Count > 50, $"{file}: no curve of class 0");
            Assert.True(PixelsOf(image, Palette.Of(1), plotArea).Count > 50, $"{file}: no curve of class 1");
            Assert.True(PixelsOf(image, Palette.AllClasses, plotArea).Count > 600, $"{file}: no all-classes curve");
        }
    }

    [Fact]
    public void The_F1_curve_peaks_at_the_confidence_where_precision_and_recall_were_read()
    {
        var scores = Scores();
        Plotting.PlotMcCurve(scores.F1AtConfidence, Names, _folder.File("F1_curve.png"), "F1");
        using var image = Read(_folder.File("F1_curve.png"));

        // The operating point, found from the reported figures alone: the confidence at which the mean P and R curves give them.
        var operating = Enumerable.Range(0, 1000).First(i =>
            Math.Abs(scores.PrecisionAtConfidence.Values.Average(p => p[i]) - scores.Precision) < 1e-12 &&
            Math.Abs(scores.RecallAtConfidence.Values.Average(r => r[i]) - scores.Recall) < 1e-12);
        var curve = PixelsOf(image, Palette.AllClasses, new Rect(81, 51, 598, 478), tolerance: 10);
        var top = curve.Min(p => p.Y);
        var peakXs = curve.Where(p => p.Y <= top + 1).Select(p => p.X).ToList();
        var operatingX = 80 + (DetMetrics.ConfidenceGrid[operating] * 600);
        Assert.InRange(operatingX, peakXs.Min() - 2, peakXs.Max() + 2);
    }

    [Fact]
    public void The_confusion_matrix_comes_as_counts_and_normalised_per_true_class()
    {
        // Nine crack found and one missed; one dent found.
        var matrix = new ConfusionMatrix(classes: 2);
        for (var i = 0; i < 9; i++)
        {
            matrix.Add([new Detection(0, 0.9f, A)], [(0, A)]);
        }

        matrix.Add([], [(0, A)]);
        matrix.Add([new Detection(1, 0.9f, B)], [(1, B)]);

        var counts = Plotting.ConfusionMatrixCells(matrix, normalize: false);
        var shares = Plotting.ConfusionMatrixCells(matrix, normalize: true);
        Assert.Equal((9.0, 1.0, 1.0), (counts[0, 0], counts[2, 0], counts[1, 1]));
        Assert.Equal(0.9, shares[0, 0], 6);
        Assert.Equal(0.1, shares[2, 0], 6);
        Assert.Equal(1.0, shares[1, 1], 6);
        Assert.True(double.IsNaN(counts[1, 0]) && double.IsNaN(shares[0, 1])); // nothing there: left blank, not "0"

        Plotting.PlotConfusionMatrix(matrix, Names[..2], _folder.File("confusion_matrix.png"));
        Plotting.PlotConfusionMatrix(matrix, Names[..2], _folder.File("confusion_matrix_normalized.png"), normalize: true);
        using var countsImage = Read(_folder.File("confusion_matrix.png"));
        using var sharesImage = Read(_folder.File("confusion_matrix_normalized.png"));
        Assert.Equal(countsImage.Size(), sharesImage.Size());

        // The darkest blue marks the largest cells: the nine crack among counts; crack's 0.9 and dent's 1.0 among shares.
        int Dark(Mat image) => PixelsOf(image, new Scalar(126, 61, 8), new Rect(0, 0, image.Width, image.Height)).Count;
        var (darkCounts, darkShares) = (Dark(countsImage), Dark(sharesImage));
        Assert.True(darkCounts > 1000, $"{darkCounts} dark pixels");
        Assert.InRange(darkShares, 1.6 * darkCounts, 2.4 * darkCounts);
    }

    [SkippableFact]
    public void Labels_show_a_bar_per_class_as_tall_as_its_instance_count()
    {
        var dataset = Datasets.DatasetLoader.Load(SharedData.Require("datasets/neu-det"), verifyImages: false);
        var train = dataset.Splits["train"];
        Plotting.PlotLabels(train, dataset.Names, _folder.File("labels.jpg"));

        using var image = Read(_folder.File("labels.jpg"));
        Assert.Equal(new Size(1000, 1000), image.Size());
        var counts = dataset.Names.Select((_, c) => train.Images.Sum(i => i.Boxes.Count(b => b.ClassId == c))).ToArray();
        var heights = counts.Select((_, c) => PixelsOf(image, Palette.Of(c), new Rect(0, 0, 500, 500)).GroupBy(p => p.X).Max(column => column.Count())).ToArray();
        for (var c = 0; c < counts.Length; c++)
        {
            // Bars share one scale: each is its count's share of the tallest, to a few pixels.
            Assert.InRange(heights[c], (heights.Max() * counts[c] / (double)counts.Max()) - 4, (heights.Max() * counts[c] / (double)counts.Max()) + 4);
        }

        Assert.True(heights.Min() > 20, $"bar heights {string.Join(", ", heights)}");
        var histograms = PixelsOf(image, Palette.Blues(0.6), new Rect(0, 500, 1000, 500), tolerance: 120).Count;
        Assert.True(histograms > 2000, $"{histograms} histogram pixels"); // centres and sizes are drawn
    }

    /// <summary>Mid-grey images of a side, with boxes given as (image, class, normalised centre x, y, width, height).</summary>
    private static Batch GreyBatch(int images, int side, params (int Image, int Class, float X, float Y, float W, float H)[] boxes) => new(
        full(new long[] { images, 3, side, side }, 0.5f),
        tensor(boxes.Select(b => (float)b.Image).ToArray()),
        tensor(boxes.Select(b => (float)b.Class).ToArray()),
        tensor(boxes.SelectMany(b => new[] { b.X, b.Y, b.W, b.H }).ToArray(), [boxes.Length, 4]),
        [.. Enumerable.Range(0, images).Select(i => $"/data/images/part_{i}.jpg")],
        [.. Enumerable.Repeat(new Rect(0, 0, side, side), images)]);

    [Fact]
    public void Training_batches_are_drawn_in_a_grid_filled_column_by_column_with_their_labels()
    {
        // Three 128-pixel images make a 2 x 2 grid: image 0 top left, image 1 under it, image 2 top right.
        using var batch = GreyBatch(3, 128, (0, 1, 0.5f, 0.5f, 0.5f, 0.5f), (2, 0, 0.5f, 0.5f, 0.5f, 0.5f));
        Plotting.PlotTrainingSamples(batch, Names, _folder.Path, batchNumber: 2);

        using var image = Read(_folder.File("train_batch2.jpg"));
        Assert.Equal(new Size(256, 256), image.Size());
        Assert.True(PixelsOf(image, Palette.Of(1), new Rect(30, 50, 6, 40)).Count > 60, "image 0's dent box (its left edge at x = 32)");
        Assert.True(PixelsOf(image, Palette.Of(0), new Rect(128 + 30, 50, 6, 40)).Count > 60, "image 2's crack box, in the second column");
        Assert.Empty(PixelsOf(image, Palette.Of(0), new Rect(0, 128, 128, 128)).Concat(PixelsOf(image, Palette.Of(1), new Rect(0, 128, 128, 128)))); // image 1 has none
    }

    [Fact]
    public void A_grid_holds_at_most_sixteen_images_in_at_most_1920_pixels()
    {
        using (var twenty = GreyBatch(20, 32))
        {
            Plotting.PlotTrainingSamples(twenty, Names, _folder.Path, batchNumber: 0);
        }

        using (var large = GreyBatch(2, 1000, (1, 2, 0.5f, 0.5f, 0.5f, 0.5f)))
        {
            Plotting.PlotTrainingSamples(large, Names, _folder.Path, batchNumber: 1);
        }

        using var sixteen = Read(_folder.File("train_batch0.jpg"));
        Assert.Equal(new Size(128, 128), sixteen.Size()); // 4 x 4 tiles of 32
        using var shrunk = Read(_folder.File("train_batch1.jpg"));
        Assert.Equal(new Size(1920, 1920), shrunk.Size()); // 2 x 2 tiles of 960
        Assert.True(PixelsOf(shrunk, Palette.Of(2), new Rect(236, 960 + 300, 8, 300)).Count > 600, "the second image's box, scaled with it (its left edge at x = 240)");
    }

    [Fact]
    public void Validation_batches_give_a_labels_picture_and_a_predictions_picture_without_the_doubtful_ones()
    {
        using var batch = GreyBatch(2, 128, (0, 2, 0.5f, 0.5f, 0.5f, 0.5f));
        var evaluations = new List<ImageEvaluation>
        {
            new([new Detection(0, 0.9f, new BoundingBox(20, 20, 100, 100)), new Detection(1, 0.1f, new BoundingBox(40, 40, 80, 80))], []),
            new([], []),
        };
        Plotting.PlotValidationSamples(batch, evaluations, Names, _folder.Path, batchNumber: 1);

        using var labels = Read(_folder.File("val_batch1_labels.jpg"));
        using var predictions = Read(_folder.File("val_batch1_pred.jpg"));
        var firstImage = new Rect(0, 0, 128, 128);
        Assert.True(PixelsOf(labels, Palette.Of(2), firstImage).Count > 200, "the label");
        Assert.Empty(PixelsOf(labels, Palette.Of(0), firstImage));
        Assert.True(PixelsOf(predictions, Palette.Of(0), firstImage).Count > 200, "the 0.9 prediction");
        Assert.Empty(PixelsOf(predictions, Palette.Of(1), firstImage)); // 0.1: below 0.25, not shown
        Assert.Empty(PixelsOf(predictions, Palette.Of(2), firstImage));
    }
}

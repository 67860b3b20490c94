using System.Globalization;
using Inspection.Core;
using Inspection.Training.Data;
using OpenCvSharp;
using static TorchSharp.torch;
using Size = OpenCvSharp.Size;

namespace Inspection.Training.Utils;

/// <summary>A box to draw on one image of a grid, in that image's pixels: a label, or a prediction with its score.</summary>
public readonly record struct PlottedBox(int ClassId, BoundingBox Box, float? Score = null);

public static partial class Plotting
{
    private const int MostTiles = 16, LargestGrid = 1920;

    /// <summary>Predictions below this are left out of the pictures, as Ultralytics leaves them out.</summary>
    private const float ShownScore = 0.25f;

    /// <summary>
    /// plot_images: up to 16 images of a batch ([B, 3, H, W], RGB 0-1) in a square grid filled column by column, shrunk to
    /// at most 1920 pixels a side, each with its file name and its boxes in the class colours, named, with the score of a prediction.
    /// </summary>
    /// <param name="boxes">Per image of the batch, what to draw on it.</param>
    /// <param name="file">The picture to write, a JPEG as Ultralytics writes them (or another format OpenCV knows by its extension).</param>
    /// <param name="paths">Per image, its source file, whose name is written in the corner.</param>
    public static void PlotImages(Tensor images, IReadOnlyList<IReadOnlyList<PlottedBox>> boxes, IReadOnlyList<string> names, string file, IReadOnlyList<string>? paths = null)
    {
        var count = Math.Min(MostTiles, (int)images.shape[0]);
        var (height, width) = ((int)images.shape[2], (int)images.shape[3]);
        var columns = (int)Math.Ceiling(Math.Sqrt(count));
        var scale = Math.Min(1.0, (double)LargestGrid / columns / Math.Max(height, width));
        var tile = new Size((int)Math.Ceiling(scale * width), (int)Math.Ceiling(scale * height));

        // Ultralytics' proportions: a font size of 1 % of the grid's width plus height, lines a tenth of it.
        var fontSize = (tile.Width + tile.Height) * columns * 0.01;
        var lineWidth = Math.Max(2, (int)Math.Round(fontSize / 10));
        var textScale = Math.Max(0.35, fontSize / 32);

        using var stacked = Mat.FromPixelData(count * height, width, MatType.CV_8UC3, EightBitBgr(images, count));
        using var grid = new Mat(columns * tile.Height, columns * tile.Width, MatType.CV_8UC3, Palette.White);
        for (var i = 0; i < count; i++)
        {
            var place = new Rect(new Point(tile.Width * (i / columns), tile.Height * (i % columns)), tile);
            using var source = stacked.RowRange(i * height, (i + 1) * height);
            using var target = new Mat(grid, place);
            Cv2.Resize(source, target, tile, interpolation: scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
            foreach (var (classId, box, score) in boxes[i])
            {
                var name = ClassName(names, classId);
                var label = score is { } s ? $"{name} {s.ToString("0.0", CultureInfo.InvariantCulture)}" : name;
                DrawBoxLabel(target, new BoundingBox((float)(box.X1 * scale), (float)(box.Y1 * scale), (float)(box.X2 * scale), (float)(box.Y2 * scale)), label, Palette.Of(classId), lineWidth, textScale);
            }

            Cv2.Rectangle(grid, place, Palette.White, 2);
            if (paths is not null)
            {
                // Light grey on a dark outline: readable on dark and bright pictures alike.
                var origin = new Point(place.X + 5, place.Y + 5 + Cv2.GetTextSize("Ag", Chart.Font, textScale, 1, out _).Height);
                var fileName = Shortened(Path.GetFileName(paths[i]), 40);
                Chart.Text(grid, fileName, origin, textScale, Scalar.All(0), 3);
                Chart.Text(grid, fileName, origin, textScale, Scalar.All(220));
            }
        }

        WritePicture(file, grid);
    }

    /// <summary>train_batch{n}.jpg (plot_training_samples): a training batch as the model sees it, augmented, with its labels.</summary>
    public static void PlotTrainingSamples(Batch batch, IReadOnlyList<string> names, string directory, int batchNumber) =>
        PlotImages(batch.Images, Labels(batch), names, Path.Combine(directory, $"train_batch{batchNumber}.jpg"), batch.Paths);

    /// <summary>
    /// val_batch{n}_labels.jpg and val_batch{n}_pred.jpg (plot_val_samples, plot_predictions): a validation batch with its labels,
    /// and with its predictions above 0.25.
    /// </summary>
    /// <param name="evaluations">The batch's images' evaluations, in the batch's (letterboxed) pixels.</param>
    public static void PlotValidationSamples(Batch batch, IReadOnlyList<ImageEvaluation> evaluations, IReadOnlyList<string> names, string directory, int batchNumber)
    {
        PlotImages(batch.Images, Labels(batch), names, Path.Combine(directory, $"val_batch{batchNumber}_labels.jpg"), batch.Paths);
        PlotImages(batch.Images, PlottedPredictions(evaluations), names, Path.Combine(directory, $"val_batch{batchNumber}_pred.jpg"), batch.Paths);
    }

    /// <summary>Each image's predictions above 0.25, with their scores.</summary>
    private static IReadOnlyList<IReadOnlyList<PlottedBox>> PlottedPredictions(IReadOnlyList<ImageEvaluation> evaluations) =>
        [.. evaluations.Select(e => (IReadOnlyList<PlottedBox>)[.. e.Predictions.Where(p => p.Score > ShownScore).Select(p => new PlottedBox(p.ClassId, p.Box, p.Score))])];

    /// <summary>
    /// A picture in the format its extension names; a JPEG at quality 95 with full-resolution colour (4:4:4; OpenCV's
    /// IMWRITE_JPEG_SAMPLING_FACTOR, which OpenCvSharp does not name): the default halves colour resolution, and thin
    /// coloured lines then come out in muddy colours.
    /// </summary>
    private static void WritePicture(string path, Mat image)
    {
        var jpeg = Path.GetExtension(path).ToLowerInvariant() is ".jpg" or ".jpeg";
        Cv2.ImWrite(path, image, jpeg ? [new ImageEncodingParam(ImwriteFlags.JpegQuality, 95), new ImageEncodingParam((ImwriteFlags)7, 0x111111)] : []);
    }

    private static IReadOnlyList<IReadOnlyList<PlottedBox>> Labels(Batch batch) =>
        [.. batch.PixelLabels().Select(image => (IReadOnlyList<PlottedBox>)[.. image.Select(l => new PlottedBox(l.ClassId, l.Box))])];

    /// <summary>The first <paramref name="count"/> images as 8-bit BGR rows, one image under the other.</summary>
    private static byte[] EightBitBgr(Tensor images, int count)
    {
        using var scope = NewDisposeScope();
        return images.narrow(0, 0, count).cpu().permute(0, 2, 3, 1).flip(3).Times(255.0).clamp(Scalars.Of(0.0), Scalars.Of(255.0))
            .to_type(ScalarType.Byte).contiguous().data<byte>().ToArray();
    }

    /// <summary>A box in its class colour with its label on a filled tab above it, or inside it at the top of the image (box_label).</summary>
    private static void DrawBoxLabel(Mat image, BoundingBox box, string label, Scalar colour, int lineWidth, double textScale)
    {
        var (topLeft, bottomRight) = (new Point((int)box.X1, (int)box.Y1), new Point((int)box.X2, (int)box.Y2));
        Cv2.Rectangle(image, topLeft, bottomRight, colour, lineWidth, LineTypes.AntiAlias);
        var textThickness = Math.Max(lineWidth - 1, 1);
        var size = Cv2.GetTextSize(label, Chart.Font, textScale, textThickness, out _);
        var outside = topLeft.Y - size.Height - 3 >= 0;
        var tabCorner = new Point(topLeft.X + size.Width, outside ? topLeft.Y - size.Height - 3 : topLeft.Y + size.Height + 3);
        Cv2.Rectangle(image, topLeft, tabCorner, colour, -1, LineTypes.AntiAlias);
        Chart.Text(image, label, new Point(topLeft.X, outside ? topLeft.Y - 2 : topLeft.Y + size.Height + 2), textScale, Palette.TextOn(colour), textThickness);
    }
}

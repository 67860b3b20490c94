using Inspection.Core;
using Inspection.Datasets;
using Inspection.Inference;
using Inspection.Training.Data;
using Inspection.Training.Nn;
using Inspection.Training.Utils;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Inspection.Training.Engine;

/// <summary>
/// Measures a model on a dataset split as Ultralytics' DetectionValidator does: letterboxed images, NMS at
/// confidence 0.001 and IoU 0.7 with up to 300 detections, boxes clipped to the picture, then mAP over IoU 0.5-0.95.
/// A TorchSharp model is compared in the letterboxed space, where IoU equals that in the source pixels; an ONNX model runs through the
/// serving engine (its letterbox, its NMS, batched) and is compared in the source pixels.
/// </summary>
public static class Validator
{
    public static readonly DetectionThresholds Thresholds = new(0.001f, 0.7f, 300);

    /// <param name="criterion">The training loss, to report the validation loss with the scores (as training does).</param>
    /// <param name="plotDirectory">Where to draw the first three batches with their labels and with their predictions (val_batchN_labels.jpg, val_batchN_pred.jpg), if anywhere.</param>
    public static DetectionScores Evaluate(DetectionModel model, DatasetSplit split, int imageSize, Device device, int batchSize = 16, Action<int, int>? progress = null, DetectionLoss? criterion = null, string? plotDirectory = null)
    {
        double box = 0, cls = 0, dfl = 0;
        var loader = new DetectionLoader(split, batchSize, imageSize, AugmentOptions.None);
        var evaluations = new List<ImageEvaluation>();
        var wasTraining = model.training;
        model.eval();
        var (done, batchNumber) = (0, 0);
        using (no_grad())
        {
            foreach (var batch in loader.Epoch(0, shuffle: false, mosaic: false))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    var raw = model.forward(batch.Images.to(device));
                    if (criterion is not null)
                    {
                        var (_, items) = criterion.Compute(raw, batch.BatchIndex, batch.Classes, batch.Boxes);
                        (box, cls, dfl) = (box + items.Box, cls + items.Class, dfl + items.Dfl);
                    }

                    var predictions = model.Head.Decode(raw).cpu(); // [B, 4 + C, A]
                    var batchEvaluations = Evaluations(predictions, batch, model.Names.Count).ToList();
                    if (plotDirectory is not null && batchNumber < 3)
                    {
                        Plotting.PlotValidationSamples(batch, batchEvaluations, model.Names, plotDirectory, batchNumber);
                    }

                    evaluations.AddRange(batchEvaluations);
                    done += (int)batch.Images.shape[0];
                    batchNumber++;
                }

                progress?.Invoke(done, loader.Count);
            }
        }

        model.train(wasTraining);
        var batches = loader.BatchesPerEpoch;
        return Scores(evaluations, model.Names.Count) with { Loss = criterion is null ? null : new LossItems((float)(box / batches), (float)(cls / batches), (float)(dfl / batches)) };
    }

    /// <summary>An exported model as it will serve: what <c>inspection val</c> and retraining's comparison measure.</summary>
    public static DetectionScores Evaluate(YoloDetector detector, DatasetSplit split, int batchSize = 16, Action<int, int>? progress = null)
    {
        var evaluations = new List<ImageEvaluation>();
        foreach (var chunk in split.Images.Chunk(batchSize))
        {
            var images = chunk.Select(ReadImage).ToArray();
            try
            {
                var views = images.Select(MatImage.View).ToArray();
                var results = chunk.Select(_ => new List<Detection>()).ToArray();
                detector.Detect(views, results, Thresholds);
                evaluations.AddRange(chunk.Select((item, i) => new ImageEvaluation(
                    results[i],
                    [.. item.Boxes.Select(b => (b.ClassId, new BoundingBox(b.Box.X1 * views[i].Width, b.Box.Y1 * views[i].Height, b.Box.X2 * views[i].Width, b.Box.Y2 * views[i].Height)))])));
            }
            finally
            {
                Array.ForEach(images, image => image.Dispose());
            }

            progress?.Invoke(evaluations.Count, split.Images.Count);
        }

        return Scores(evaluations, detector.Model.Names.Count);
    }

    private static Mat ReadImage(DatasetImage item)
    {
        var image = Cv2.ImRead(item.ImagePath, ImreadModes.Color);
        return !image.Empty() ? image : throw new InspectionInputException($"'{item.ImagePath}' cannot be read any more (it was when the dataset was checked).");
    }

    private static DetectionScores Scores(List<ImageEvaluation> evaluations, int classes)
    {
        var confusion = new ConfusionMatrix(classes);
        foreach (var evaluation in evaluations)
        {
            confusion.Add(evaluation.Predictions, evaluation.Labels);
        }

        return DetMetrics.Evaluate(evaluations) with { Confusion = confusion };
    }

    internal static IEnumerable<ImageEvaluation> Evaluations(Tensor predictions, Batch batch, int classes)
    {
        var (images, channels, anchors) = ((int)predictions.shape[0], (int)predictions.shape[1], (int)predictions.shape[2]);
        var values = predictions.contiguous().data<float>().ToArray();
        var labels = batch.PixelLabels();
        for (var i = 0; i < images; i++)
        {
            var detections = new List<Detection>();
            ManagedNms.Run(values.AsSpan(i * channels * anchors, channels * anchors), OutputLayout.AnchorFree, classes, anchors, Thresholds, detections);
            // Clipped to the picture, as scale_boxes clips to the source image (and as the engine serves them).
            var picture = batch.Pictures[i];
            yield return new ImageEvaluation([.. detections.Select(d => d with { Box = d.Box.ClipTo(picture.Left, picture.Top, picture.Right, picture.Bottom) })], labels[i]);
        }
    }
}

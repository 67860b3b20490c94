using Inspection.Core;
using Inspection.Datasets;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Inspection.Training.Data;

/// <summary>
/// A training batch in Ultralytics' collated form: images [B, 3, S, S] (RGB, 0-1) and every box of the batch as
/// batch index [N], class [N] and normalised centre-size box [N, 4]; <paramref name="Pictures"/> is where each
/// image's picture lies (the rest is letterbox padding), to clip predictions to as validation does.
/// </summary>
public sealed record Batch(Tensor Images, Tensor BatchIndex, Tensor Classes, Tensor Boxes, IReadOnlyList<string> Paths, IReadOnlyList<Rect> Pictures) : IDisposable
{
    /// <summary>Each image's labels as corner boxes in its pixels.</summary>
    public IReadOnlyList<IReadOnlyList<(int ClassId, BoundingBox Box)>> PixelLabels()
    {
        var labels = Enumerable.Range(0, (int)Images.shape[0]).Select(_ => new List<(int, BoundingBox)>()).ToArray();
        if (BatchIndex.numel() == 0)
        {
            return labels; // background images only, and TorchSharp cannot read an empty tensor's data
        }

        var (height, width) = (Images.shape[2], Images.shape[3]);
        var owners = BatchIndex.data<float>().ToArray();
        var classes = Classes.data<float>().ToArray();
        var boxes = Boxes.data<float>().ToArray();
        for (var n = 0; n < owners.Length; n++)
        {
            var (cx, cy, w, h) = (boxes[4 * n] * width, boxes[(4 * n) + 1] * height, boxes[(4 * n) + 2] * width, boxes[(4 * n) + 3] * height);
            labels[(int)owners[n]].Add(((int)classes[n], new BoundingBox(cx - (w / 2), cy - (h / 2), cx + (w / 2), cy + (h / 2))));
        }

        return labels;
    }

    public void Dispose()
    {
        Images.Dispose();
        BatchIndex.Dispose();
        Classes.Dispose();
        Boxes.Dispose();
    }
}

/// <summary>
/// Turns a dataset split into batches: shuffled per epoch, augmented (mosaic, affine, HSV, flip) or only
/// letterboxed, and prepared one batch ahead on another thread while the current one trains. Every draw is
/// seeded by (seed, epoch, image), so a run is reproducible whatever the timing.
/// </summary>
public sealed class DetectionLoader(DatasetSplit split, int batchSize, int imageSize, AugmentOptions augment, int seed = 0, ImageCache? cache = null)
{
    public int Count => split.Images.Count;

    public int BatchesPerEpoch => (Count + batchSize - 1) / batchSize;

    /// <summary>The batches of one epoch; <paramref name="shuffle"/> for training, in order for validation.</summary>
    public IEnumerable<Batch> Epoch(int epoch, bool shuffle, bool mosaic)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        if (shuffle)
        {
            new Random(HashCode.Combine(seed, epoch)).Shuffle(order);
        }

        var chunks = order.Chunk(batchSize).ToList();
        Task<Batch>? next = chunks.Count > 0 ? Task.Run(() => Build(chunks[0], epoch, mosaic)) : null;
        for (var i = 0; i < chunks.Count; i++)
        {
            var current = next!.GetAwaiter().GetResult();
            var following = i + 1;
            next = following < chunks.Count ? Task.Run(() => Build(chunks[following], epoch, mosaic)) : null;
            yield return current;
        }
    }

    /// <summary>One image with its boxes in pixels, as stored (BGR; gray images become three channels).</summary>
    public Sample Load(int index)
    {
        var item = split.Images[index];
        var image = cache is null ? Decode(item.ImagePath) : cache.Get(item.ImagePath, Decode);
        if (image.Empty())
        {
            image.Dispose();
            throw new InspectionInputException($"'{item.ImagePath}' cannot be read any more (it was when the dataset was checked).");
        }

        var boxes = item.Boxes.Select(b => (b.ClassId, new BoundingBox(b.Box.X1 * image.Width, b.Box.Y1 * image.Height, b.Box.X2 * image.Width, b.Box.Y2 * image.Height))).ToList();
        return new Sample(image, boxes);
    }

    private static Mat Decode(string path) => Cv2.ImRead(path, ImreadModes.Color);

    private Batch Build(int[] indices, int epoch, bool mosaic)
    {
        var pixels = new float[indices.Length * 3 * imageSize * imageSize];
        var batchIndex = new List<float>();
        var classes = new List<float>();
        var boxes = new List<float>();
        var pictures = new Rect[indices.Length];
        for (var b = 0; b < indices.Length; b++)
        {
            var random = new Random(HashCode.Combine(seed, epoch, indices[b]));
            using var sample = Prepare(indices[b], mosaic, random);
            pictures[b] = sample.Picture;
            ToTensorLayout(sample.Image, pixels.AsSpan(b * 3 * imageSize * imageSize, 3 * imageSize * imageSize));
            foreach (var (classId, box) in sample.Boxes)
            {
                batchIndex.Add(b);
                classes.Add(classId);
                boxes.AddRange([(box.X1 + box.X2) / 2 / imageSize, (box.Y1 + box.Y2) / 2 / imageSize, box.Width / imageSize, box.Height / imageSize]);
            }
        }

        return new Batch(
            tensor(pixels, [indices.Length, 3, imageSize, imageSize]),
            tensor(batchIndex.ToArray()),
            tensor(classes.ToArray()),
            tensor(boxes.ToArray(), [batchIndex.Count, 4]),
            indices.Select(i => split.Images[i].ImagePath).ToList(),
            pictures);
    }

    private Sample Prepare(int index, bool mosaic, Random random)
    {
        Sample sample;
        if (mosaic && augment.Mosaic > 0 && random.NextDouble() < augment.Mosaic)
        {
            var four = new[] { index }.Concat(Enumerable.Range(0, 3).Select(_ => random.Next(Count))).Select(Load).ToList();
            try
            {
                sample = Augment.RandomAffine(Augment.Mosaic(four, imageSize, random), imageSize, augment, random);
            }
            finally
            {
                four.ForEach(s => s.Dispose());
            }
        }
        else
        {
            sample = Augment.Letterbox(Load(index), imageSize);
            if (augment.Scale > 0 || augment.Translate > 0)
            {
                sample = Augment.RandomAffine(sample, imageSize, augment, random);
            }
        }

        Augment.RandomHsv(sample.Image, augment, random);
        Augment.RandomFlip(sample, augment.FlipLeftRight, random);
        return sample;
    }

    /// <summary>BGR bytes to planar RGB floats in 0-1, as the model (and the engine) take them.</summary>
    private static unsafe void ToTensorLayout(Mat image, Span<float> chw)
    {
        var (width, height) = (image.Width, image.Height);
        var plane = width * height;
        var pixels = (byte*)image.Data;
        var step = (int)image.Step();
        for (var y = 0; y < height; y++)
        {
            var row = pixels + ((long)y * step);
            for (var x = 0; x < width; x++)
            {
                var at = (y * width) + x;
                chw[at] = row[(x * 3) + 2] / 255f;
                chw[plane + at] = row[(x * 3) + 1] / 255f;
                chw[(2 * plane) + at] = row[x * 3] / 255f;
            }
        }
    }
}

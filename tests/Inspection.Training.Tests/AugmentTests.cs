using Inspection.Core;
using Inspection.Training.Data;
using OpenCvSharp;

namespace Inspection.Training.Tests;

/// <summary>Boxes follow the pixels through every augmentation; a seed reproduces the result.</summary>
public sealed class AugmentTests
{
    /// <summary>A dark image with bright squares exactly where its boxes are.</summary>
    private static Sample Squares(int width, int height, params BoundingBox[] boxes)
    {
        var image = new Mat(height, width, MatType.CV_8UC3, Scalar.All(20));
        foreach (var box in boxes)
        {
            image.Rectangle(new Rect((int)box.X1, (int)box.Y1, (int)box.Width, (int)box.Height), Scalar.All(250), -1);
        }

        return new Sample(image, boxes.Select(b => (0, b)).ToList());
    }

    /// <summary>Mean brightness inside a box, shrunk by a pixel so interpolated edges do not count.</summary>
    private static double Inside(Mat image, BoundingBox box)
    {
        var rect = new Rect((int)Math.Ceiling(box.X1) + 1, (int)Math.Ceiling(box.Y1) + 1, (int)box.Width - 3, (int)box.Height - 3);
        using var roi = new Mat(image, rect);
        return roi.Mean().Val0;
    }

    [Fact]
    public void Letterbox_scales_centres_and_pads_like_the_engine()
    {
        using var sample = Augment.Letterbox(Squares(200, 100, new BoundingBox(50, 25, 150, 75)), 64);
        Assert.Equal((64, 64), (sample.Image.Width, sample.Image.Height));
        var box = sample.Boxes.Single().Box; // gain 0.32, 16 rows of padding above
        Assert.Equal((16f, 24f, 48f, 40f), (box.X1, box.Y1, box.X2, box.Y2));
        Assert.Equal(114, sample.Image.At<Vec3b>(2, 2).Item0);
        Assert.Equal(new Rect(0, 16, 64, 32), sample.Picture);
    }

    [Fact]
    public void Flipping_mirrors_the_boxes_and_the_picture()
    {
        using var sample = Squares(64, 32, new BoundingBox(10, 5, 30, 20));
        sample.Picture = new Rect(3, 0, 60, 32); // as if letterboxed with 3 columns of padding on the left, 1 on the right
        Augment.RandomFlip(sample, 1.0, new Random(1));
        Assert.Equal(new BoundingBox(34, 5, 54, 20), sample.Boxes.Single().Box);
        Assert.Equal(new Rect(1, 0, 60, 32), sample.Picture);
        Assert.True(Inside(sample.Image, sample.Boxes[0].Box) > 240);
    }

    [Fact]
    public void Mosaic_affine_and_flip_keep_every_box_on_its_square()
    {
        var random = new Random(42);
        for (var trial = 0; trial < 20; trial++)
        {
            var tiles = Enumerable.Range(0, 4).Select(i => Squares(96 + (i * 20), 80, new BoundingBox(10 + i, 12, 40 + i, 50), new BoundingBox(60, 30, 90, 70))).ToList();
            var mosaic = Augment.Mosaic(tiles, 128, random);
            tiles.ForEach(t => t.Dispose());
            using var sample = Augment.RandomAffine(mosaic, 128, new AugmentOptions(), random);
            Augment.RandomFlip(sample, 0.5, random);

            Assert.Equal((128, 128), (sample.Image.Width, sample.Image.Height));
            Assert.NotEmpty(sample.Boxes);
            foreach (var (_, box) in sample.Boxes.Where(b => b.Box.Width > 6 && b.Box.Height > 6))
            {
                Assert.True(Inside(sample.Image, box) > 200, $"trial {trial}: box {box} is not on a square");
            }
        }
    }

    [Fact]
    public void A_seed_reproduces_an_augmented_image()
    {
        static byte[] Run(int seed)
        {
            var random = new Random(seed);
            var tiles = Enumerable.Range(0, 4).Select(_ => Squares(100, 90, new BoundingBox(20, 20, 60, 60))).ToList();
            using var sample = Augment.RandomAffine(Augment.Mosaic(tiles, 96, random), 96, new AugmentOptions(), random);
            tiles.ForEach(t => t.Dispose());
            Augment.RandomHsv(sample.Image, new AugmentOptions(), random);
            Augment.RandomFlip(sample, 0.5, random);
            return sample.Image.ToBytes(".png");
        }

        Assert.Equal(Run(7), Run(7));
        Assert.NotEqual(Run(7), Run(8));
    }

    [Fact]
    public void Slivers_left_by_a_crop_are_dropped()
    {
        Assert.True(Augment.IsCandidate(new BoundingBox(0, 0, 20, 20), new BoundingBox(0, 0, 20, 20), 1));
        Assert.False(Augment.IsCandidate(new BoundingBox(0, 0, 20, 20), new BoundingBox(0, 0, 20, 1.5f), 1)); // under 2 px
        Assert.False(Augment.IsCandidate(new BoundingBox(0, 0, 100, 100), new BoundingBox(0, 0, 25, 25), 1)); // under 10 % of its area left
    }
}

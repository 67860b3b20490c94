using Inspection.Datasets;
using Inspection.TestSupport;
using Inspection.Training.Data;

namespace Inspection.Training.Tests;

public sealed class LoaderTests
{
    [SkippableFact]
    public void Batches_cover_the_split_in_collated_form_and_a_seed_reproduces_them()
    {
        var dataset = DatasetLoader.Load(SharedData.Require("datasets/workpiece-crack"), verifyImages: false);
        var loader = new DetectionLoader(dataset.Splits["train"], batchSize: 16, imageSize: 160, new AugmentOptions(), seed: 5);

        var batches = loader.Epoch(0, shuffle: true, mosaic: true).ToList();
        try
        {
            Assert.Equal(4, batches.Count); // 60 images in batches of 16
            Assert.Equal(60, batches.Sum(b => b.Images.shape[0]));
            Assert.Equal(60, batches.SelectMany(b => b.Paths).Distinct().Count());
            Assert.All(batches, b => Assert.Equal([b.Images.shape[0], 3L, 160, 160], b.Images.shape));
            Assert.All(batches, b => Assert.Equal(b.BatchIndex.shape[0], b.Boxes.shape[0]));
            Assert.True(batches.Sum(b => b.Boxes.shape[0]) > 57); // mosaics bring in boxes of other images
            var boxes = batches.SelectMany(b => b.Boxes.data<float>().ToArray()).ToArray();
            Assert.All(boxes, v => Assert.InRange(v, 0f, 1f));
            var pixels = batches[0].Images;
            Assert.InRange(pixels.min().item<float>(), 0f, 1f);
            Assert.InRange(pixels.max().item<float>(), 0f, 1f);

            var again = loader.Epoch(0, shuffle: true, mosaic: true).First();
            using (again)
            {
                Assert.Equal(batches[0].Paths, again.Paths);
                Assert.True(batches[0].Images.allclose(again.Images, rtol: 0, atol: 0));
            }
        }
        finally
        {
            batches.ForEach(b => b.Dispose());
        }
    }

    [SkippableFact]
    public void Validation_batches_are_letterboxed_in_order_without_augmentation()
    {
        var dataset = DatasetLoader.Load(SharedData.Require("datasets/workpiece-crack"), verifyImages: false);
        var split = dataset.Splits["val"];
        var loader = new DetectionLoader(split, batchSize: 8, imageSize: 320, AugmentOptions.None);
        var batches = loader.Epoch(0, shuffle: false, mosaic: false).ToList();
        try
        {
            Assert.Equal(split.Images.Select(i => i.ImagePath), batches.SelectMany(b => b.Paths));
            Assert.Equal(split.Images.Sum(i => i.Boxes.Count), batches.Sum(b => b.Boxes.shape[0])); // 320 px images at 320: nothing moves or drops
            var first = split.Images[0].Boxes[0].Box;
            var loaded = batches[0].Boxes[0].data<float>().ToArray();
            Assert.Equal((first.X1 + first.X2) / 2, loaded[0], 3);
            Assert.Equal(first.Height, loaded[3], 3);
        }
        finally
        {
            batches.ForEach(b => b.Dispose());
        }
    }
}

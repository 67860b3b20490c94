using Inspection.Training.Nn;
using Inspection.Training.Utils;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

/// <summary>The assigner and the loss against cases worked out by hand, and a loss that falls when trained.</summary>
public sealed class LossTests
{
    [Theory]
    [InlineData(new float[] { 0, 0, 2, 2 }, new float[] { 0, 0, 2, 2 }, 1.0)]
    [InlineData(new float[] { 0, 0, 2, 2 }, new float[] { 1, 0, 3, 2 }, 0.25641)]   // IoU 1/3, centre distance 1, enclosing diagonal 13: 1/3 - 1/13
    [InlineData(new float[] { 0, 0, 2, 2 }, new float[] { 3, 0, 5, 2 }, -0.31034)]  // apart: IoU 0, distance 9 over diagonal 29
    public void Complete_IoU_matches_hand_computed_values(float[] a, float[] b, double expected)
    {
        using var value = Metrics.CompleteIoU(tensor(a).view(1, 4), tensor(b).view(1, 4));
        Assert.Equal(expected, value.item<float>(), 4);
    }

    [Fact]
    public void The_assigner_gives_a_box_the_anchors_inside_it_and_scales_scores_by_alignment()
    {
        // Four anchors (pixels); one ground-truth box [0, 0, 16, 8] of class 1 holds the first two.
        using var anchors = tensor(new float[] { 4, 4, 12, 4, 20, 4, 4, 12 }).view(4, 2);
        using var gtBoxes = tensor(new float[] { 0, 0, 16, 8 }).view(1, 1, 4);
        using var gtLabels = tensor(new float[] { 1 }).view(1, 1, 1);
        using var gtMask = ones(1, 1, 1);
        using var predictedBoxes = tensor(new float[] { 0, 0, 16, 8, 8, 0, 24, 8, 16, 0, 24, 8, 0, 8, 8, 16 }).view(1, 4, 4);
        using var predictedScores = tensor(new float[] { 0.1f, 0.9f, 0.2f, 0.5f, 0.3f, 0.8f, 0.1f, 0.1f }).view(1, 4, 2);

        using var result = new TaskAlignedAssigner(classes: 2).Assign(predictedScores, predictedBoxes, anchors, gtLabels, gtBoxes, gtMask);

        Assert.Equal(new[] { true, true, false, false }, result.Foreground.data<bool>().ToArray());
        Assert.Equal(new long[] { 1, 1 }, result.Labels[0, ..2].data<long>().ToArray());
        Assert.Equal(new float[] { 0, 0, 16, 8 }, result.Boxes[0, 1].data<float>().ToArray());

        // Alignment = score^0.5 x CIoU^6: anchor 0 predicts the box exactly (CIoU 1) with 0.9, so after
        // normalising by the best alignment and the best IoU it scores 1 for class 1; anchor 1 far less.
        var scores = result.Scores[0].data<float>().ToArray();
        Assert.Equal(1f, scores[1], 4);
        Assert.Equal(0f, scores[0]);
        Assert.InRange(scores[3], 0f, 0.01f);
        Assert.All(scores[4..], s => Assert.Equal(0f, s));
    }

    [Fact]
    public void An_image_with_no_boxes_has_only_a_class_loss()
    {
        random.manual_seed(1);
        using var model = new DetectionModel(ModelScale.N, ["crack"]);
        using var input = rand(2, 3, 64, 64);
        var raw = model.forward(input);
        var loss = new DetectionLoss(1, [8, 16, 32]);
        var (total, items) = loss.Compute(raw, zeros(0), zeros(0), zeros(0, 4));
        Assert.True(total.item<float>() > 0);
        Assert.Equal(0f, items.Box);
        Assert.Equal(0f, items.Dfl);
        Assert.True(items.Class > 0);
    }

    [Fact]
    public void The_loss_falls_over_a_few_steps_on_a_tiny_dataset()
    {
        random.manual_seed(3);
        using var model = new DetectionModel(ModelScale.N, ["square"]);
        model.train();
        var loss = new DetectionLoss(1, [8, 16, 32]);
        using var optimizer = optim.AdamW(model.parameters(), 0.001);

        // Four 64 px images, each with one bright square on a dark ground, labelled where it is.
        using var images = zeros(4, 3, 64, 64) + 0.1;
        var boxes = new float[] { 0.3f, 0.3f, 0.25f, 0.25f, 0.7f, 0.4f, 0.3f, 0.3f, 0.5f, 0.7f, 0.2f, 0.25f, 0.35f, 0.65f, 0.3f, 0.2f };
        for (var i = 0; i < 4; i++)
        {
            var (cx, cy, w, h) = (boxes[4 * i] * 64, boxes[(4 * i) + 1] * 64, boxes[(4 * i) + 2] * 64, boxes[(4 * i) + 3] * 64);
            images[i, .., (int)(cy - (h / 2))..(int)(cy + (h / 2)), (int)(cx - (w / 2))..(int)(cx + (w / 2))] = 0.9;
        }

        using var batchIndex = tensor(new float[] { 0, 1, 2, 3 });
        using var labels = zeros(4);
        using var targets = tensor(boxes).view(4, 4);
        var losses = new List<float>();
        for (var step = 0; step < 70; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var (total, _) = loss.Compute(model.forward(images), batchIndex, labels, targets);
            total.backward();
            optimizer.step();
            losses.Add(total.item<float>());
        }

        // The first steps have no aligned anchors yet (all target scores 0, so only the class loss counts);
        // once boxes are assigned the full loss appears, and from then on it must fall.
        var assigned = losses.Skip(3).Take(7).Average();
        Assert.True(losses.TakeLast(5).Average() < assigned * 0.6, $"loss: {string.Join(", ", losses.Select(l => l.ToString("0.00")))}");
    }
}

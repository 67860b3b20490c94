using Inspection.Training.Engine;
using Inspection.Training.Nn;
using static TorchSharp.torch;

namespace Inspection.Training.Tests;

public sealed class ModelEmaTests
{
    [Fact]
    public void The_average_moves_towards_the_model_by_one_minus_the_ramped_decay()
    {
        using var model = new DetectionModel(ModelScale.N, ["a"]);
        using var ema = new ModelEma(model, () => new DetectionModel(ModelScale.N, ["a"]), decay: 0.9, tau: 1);
        var before = ema.Model.state_dict()["model.0.conv.weight"].clone();
        using (no_grad())
        {
            model.state_dict()["model.0.conv.weight"].add_(1.0);
        }

        for (var i = 0; i < 40; i++)
        {
            ema.Update(model); // many updates: the hot path of training, inside and outside dispose scopes
        }

        // After n updates the average is within d^n of the model; d ramps to 0.9 here (tau 1).
        var moved = (ema.Model.state_dict()["model.0.conv.weight"] - before).mean().item<float>();
        Assert.InRange(moved, 0.98f, 1.0f);
        Assert.Equal(ScalarType.Int64, ema.Model.state_dict()["model.0.bn.num_batches_tracked"].dtype);
        Assert.Equal(40, ema.Updates);
    }
}

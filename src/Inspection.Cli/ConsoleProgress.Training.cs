using Inspection.Training.Engine;
using Inspection.Training.Utils;

namespace Inspection.Cli;

// Apart from ConsoleProgress.cs, which the CLI's tests compile without the training engine (and its libtorch).
internal sealed partial class ConsoleProgress
{
    private Bar? _epoch;

    /// <summary>
    /// Training as Ultralytics shows it: a bar per epoch ("epoch 3/100  box 1.234 cls 2.345 dfl 1.111  ━━━━  42/90
    /// batches  55.1 img/s  ETA 00:12:31"), replaced when the epoch is validated by its summary line with mAP50 and mAP50-95.
    /// </summary>
    public void Show(TrainingProgress progress)
    {
        var epoch = $"epoch {progress.Epoch}/{progress.Epochs}";
        _epoch ??= Add(epoch);
        if (progress.Validated is { } result)
        {
            _epoch.Finish($"{epoch}  {Losses(result.Loss)}  mAP50 {result.Validation.MAP50:0.000}  mAP50-95 {result.Validation.MAP50To95:0.000}  {result.Duration.TotalSeconds:0} s");
            _epoch = null;
            return;
        }

        var next = progress.Batch < progress.Batches ? $"ETA {(int)progress.Eta.TotalHours:00}:{progress.Eta:mm\\:ss}" : "validating";
        _epoch.Show(progress.Batch, progress.Batches, $"{progress.Batch}/{progress.Batches} batches  {progress.ImagesPerSecond:0.0} img/s  {next}", $"{epoch}  {Losses(progress.Loss)}");
    }

    private static string Losses(LossItems loss) => $"box {loss.Box:0.000} cls {loss.Class:0.000} dfl {loss.Dfl:0.000}";
}

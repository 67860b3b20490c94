using Inspection.Core;
using Inspection.Training.Data;

namespace Inspection.Training.Engine;

/// <summary>Training settings; defaults are Ultralytics' (cfg/default.yaml).</summary>
public sealed record TrainOptions
{
    public required string Data { get; init; }
    public required string Output { get; init; }
    /// <summary>n or s; by default the scale of <see cref="Weights"/>, else n.</summary>
    public string? Scale { get; init; }
    public int Epochs { get; init; } = 100;

    /// <summary>Stop after this many epochs without a better fitness than the best so far; 0 never stops early.</summary>
    public int Patience { get; init; } = 100;
    public int ImageSize { get; init; } = 640;
    public int Batch { get; init; } = 16;
    public string Device { get; init; } = "auto";

    /// <summary>Weights to start from: an Ultralytics .pt (yolov8n.pt) or a .weights of ours; with another class count only the class branch starts afresh.</summary>
    public string? Weights { get; init; }

    /// <summary>Continue the run in <see cref="Output"/> from its last checkpoint.</summary>
    public bool Resume { get; init; }

    /// <summary>auto, SGD or AdamW; auto takes AdamW for short runs and SGD for long ones, as Ultralytics does.</summary>
    public string Optimizer { get; init; } = "auto";
    public double Lr0 { get; init; } = 0.01;
    public double Lrf { get; init; } = 0.01;
    public double Momentum { get; init; } = 0.937;
    public double WeightDecay { get; init; } = 5e-4;
    public double WarmupEpochs { get; init; } = 3;
    public double WarmupMomentum { get; init; } = 0.8;
    public double WarmupBiasLr { get; init; } = 0.1;

    /// <summary>Mosaic is switched off for this many last epochs.</summary>
    public int CloseMosaic { get; init; } = 10;
    public bool CosineLr { get; init; }

    /// <summary>Keep decoded training images in memory (Ultralytics' cache=ram): each image is decoded once per run.</summary>
    public bool CacheImages { get; init; }

    /// <summary>Loss gains (box, cls, dfl in Ultralytics' hyperparameters).</summary>
    public double BoxGain { get; init; } = 7.5;
    public double ClassGain { get; init; } = 0.5;
    public double DflGain { get; init; } = 1.5;
    public int Seed { get; init; }

    /// <summary>Gradients are accumulated up to this nominal batch size before a step.</summary>
    public int NominalBatch { get; init; } = 64;
    public double GradientClip { get; init; } = 10.0;
    public AugmentOptions Augment { get; init; } = new();

    /// <summary>Refuses settings no run can use, naming the option, before anything is loaded.</summary>
    public void Validate()
    {
        foreach (var (value, option) in new[] { (Epochs, "--epochs"), (ImageSize, "--imgsz"), (Batch, "--batch"), (NominalBatch, "nbs") })
        {
            if (value <= 0)
            {
                throw new InspectionInputException($"{option} {value} must be positive.");
            }
        }

        if (ImageSize % 32 != 0)
        {
            throw new InspectionInputException($"--imgsz {ImageSize} is not a multiple of 32 (the model's largest stride).");
        }

        if (Patience < 0 || CloseMosaic < 0)
        {
            throw new InspectionInputException($"--patience {Patience} and --close-mosaic {CloseMosaic} cannot be negative.");
        }

        if (!(Lr0 > 0) || !(Lrf > 0))
        {
            throw new InspectionInputException($"--lr0 {Lr0} and --lrf {Lrf} must be positive.");
        }
    }
}

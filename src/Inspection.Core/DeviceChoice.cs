using System.Globalization;

namespace Inspection.Core;

public enum DeviceKind
{
    /// <summary>The best the host has: TensorRT, then CUDA, then the CPU for inference; CUDA, then the CPU for training.</summary>
    Auto,
    Cpu,
    Cuda,

    /// <summary>ONNX Runtime's TensorRT provider on a CUDA device: inference only.</summary>
    TensorRt,
}

/// <summary>
/// The one <c>--device</c> syntax of train, val and detect, Ultralytics' where it overlaps: <c>auto</c>, <c>cpu</c>,
/// a GPU id (<c>0</c>), <c>cuda</c> or <c>cuda:N</c>, and <c>tensorrt</c> or <c>tensorrt:N</c> for inference.
/// </summary>
public readonly record struct DeviceChoice(DeviceKind Kind, int Id = 0)
{
    public const string Syntax = "auto, cpu, a GPU id such as 0, cuda:N or tensorrt[:N]";

    public static DeviceChoice Parse(string text)
    {
        var value = text.Trim().ToLowerInvariant();
        if (value.Contains(',', StringComparison.Ordinal))
        {
            throw new InspectionInputException($"--device {text} names several GPUs; Inspection runs on one device per process: give one id such as 0 (run one process per GPU).");
        }

        var (name, id) = value.Split(':') switch
        {
            [var only] when int.TryParse(only, NumberStyles.None, CultureInfo.InvariantCulture, out var gpu) => ("cuda", gpu),
            [var only] => (only, 0),
            [var kind, var number] when int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var gpu) => (kind, gpu),
            _ => ("", 0),
        };
        return name switch
        {
            "auto" when id == 0 && !value.Contains(':', StringComparison.Ordinal) => new(DeviceKind.Auto),
            "cpu" when !value.Contains(':', StringComparison.Ordinal) => new(DeviceKind.Cpu),
            "cuda" => new(DeviceKind.Cuda, id),
            "tensorrt" => new(DeviceKind.TensorRt, id),
            _ => throw new InspectionInputException($"--device '{text}' is not one of {Syntax}."),
        };
    }

    public override string ToString() => Kind switch
    {
        DeviceKind.Auto => "auto",
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => $"cuda:{Id}",
        _ => $"tensorrt:{Id}",
    };
}

using Inspection.Core;

namespace Inspection.Inference;

/// <summary>Where an ONNX Runtime session runs. The engine tries the configured providers in order.</summary>
public enum ExecutionProvider
{
    TensorRT,
    Cuda,
    Cpu,
}

/// <summary>Where YOLO's non-maximum suppression runs.</summary>
public enum NmsPlacement
{
    /// <summary>Grafted into the model's graph, on the model's execution provider (the default).</summary>
    InGraph,

    /// <summary>In managed code after the session: the reference implementation.</summary>
    Managed,
}

public class DetectorOptions
{
    /// <summary>Path of the ONNX model.</summary>
    public string ModelPath { get; set; } = string.Empty;

    /// <summary>Providers to try, best first; the first one that loads runs the model.</summary>
    public IList<ExecutionProvider> Providers { get; set; } = [ExecutionProvider.TensorRT, ExecutionProvider.Cuda, ExecutionProvider.Cpu];

    /// <summary>GPU index for CUDA and TensorRT.</summary>
    public int DeviceId { get; set; }

    /// <summary>
    /// ONNX Runtime intra-op threads on the CPU provider; null keeps ONNX Runtime's default, which
    /// tools/bench measured fastest on the project's machines (docs/benchmarks.md).
    /// </summary>
    public int? IntraOpThreads { get; set; }

    /// <summary>Input size for models whose input size is dynamic; must match a fixed input when given.</summary>
    public int? ImageSize { get; set; }

    public NmsPlacement Nms { get; set; } = NmsPlacement.InGraph;

    /// <summary>Where TensorRT keeps built engines, so a restart does not rebuild them; null disables the cache.</summary>
    public string? TensorRtCacheDirectory { get; set; }

    /// <summary>Providers and GPU for a <c>--device</c> choice: a named device is that provider alone, auto tries the best first.</summary>
    public DetectorOptions On(DeviceChoice device)
    {
        Providers = device.Kind switch
        {
            DeviceKind.Auto => [ExecutionProvider.TensorRT, ExecutionProvider.Cuda, ExecutionProvider.Cpu],
            DeviceKind.Cpu => [ExecutionProvider.Cpu],
            DeviceKind.Cuda => [ExecutionProvider.Cuda],
            _ => [ExecutionProvider.TensorRT],
        };
        DeviceId = device.Id;
        return this;
    }
}

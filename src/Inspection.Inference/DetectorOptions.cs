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

/// <summary>Where letterboxed pixels become the model's float input.</summary>
public enum PreprocessPlacement
{
    /// <summary>In the model's graph: the host hands over bytes (the default; a quarter of the data to a GPU).</summary>
    InGraph,

    /// <summary>On the host, into the float tensor the model takes: the reference.</summary>
    Managed,
}

public class DetectorOptions
{
    /// <summary>Path of the ONNX model.</summary>
    public string ModelPath { get; set; } = string.Empty;

    /// <summary>Every provider, best first: what runs when none is configured.</summary>
    public static readonly IReadOnlyList<ExecutionProvider> BestFirst = [ExecutionProvider.TensorRT, ExecutionProvider.Cuda, ExecutionProvider.Cpu];

    /// <summary>
    /// Providers to try, in order; the first one that loads runs the model. Empty by default, meaning
    /// <see cref="BestFirst"/>: a list with defaults in it would have configured entries appended to it, not replace it.
    /// </summary>
    public IList<ExecutionProvider> Providers { get; set; } = [];

    /// <summary>What is tried: the configured providers, or every provider best first.</summary>
    public IReadOnlyList<ExecutionProvider> ProvidersToTry => Providers.Count > 0 ? [.. Providers.Distinct()] : BestFirst;

    /// <summary>GPU index for CUDA and TensorRT.</summary>
    public int DeviceId { get; set; }

    /// <summary>
    /// ONNX Runtime intra-op threads per run on the CPU provider; null shares the cores this process may use among the
    /// <see cref="ConcurrentBatches"/>. ONNX Runtime's own default is not that everywhere: on a 2-core VM it ran the
    /// float YOLOv8n at one thread's speed, 17.5 against 24.7 images/s with two (docs/benchmarks.md).
    /// </summary>
    public int? IntraOpThreads { get; set; }

    /// <summary>
    /// How many batches the caller runs on the detector at once (the worker's detector stage does; a tool that calls
    /// it once at a time gives 1). On the CPU each run gets an equal share of the cores: two runs of one thread each
    /// beat one run of two threads by 12-80% on a 2-core VM (no barrier between the threads of an operator, so a
    /// thread preempted by a camera's decoder stalls only its own batch; docs/benchmarks.md). Null: 1 on a GPU, and
    /// on the CPU 2 when this process may use 2 cores or more.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 64)]
    public int? ConcurrentBatches { get; set; }

    /// <summary>Batches at once on the CPU when <see cref="ConcurrentBatches"/> is not given (fewer on a 1-core machine).</summary>
    public const int CpuConcurrentBatches = 2;

    /// <summary>The most batches that will run at once on any provider: what to size per-batch resources for before the provider is known.</summary>
    public int MostConcurrentBatches => ConcurrentBatches ?? CpuConcurrentBatches;

    /// <summary>What <see cref="ConcurrentBatches"/> comes to on <paramref name="provider"/> with <paramref name="cores"/> cores.</summary>
    public int ConcurrentBatchesOn(ExecutionProvider provider, int cores) =>
        ConcurrentBatches ?? (provider == ExecutionProvider.Cpu ? Math.Clamp(cores, 1, CpuConcurrentBatches) : 1);

    /// <summary>ONNX Runtime's intra-op threads per run on <paramref name="provider"/>: the configured count, or the cores shared by the concurrent runs.</summary>
    public int IntraOpThreadsOn(ExecutionProvider provider, int cores) =>
        IntraOpThreads ?? Math.Max(1, cores / ConcurrentBatchesOn(provider, cores));

    /// <summary>Input size for models whose input size is dynamic; must match a fixed input when given.</summary>
    public int? ImageSize { get; set; }

    public NmsPlacement Nms { get; set; } = NmsPlacement.InGraph;

    public PreprocessPlacement Preprocess { get; set; } = PreprocessPlacement.InGraph;

    /// <summary>Where TensorRT keeps built engines, so a restart does not rebuild them; null disables the cache.</summary>
    public string? TensorRtCacheDirectory { get; set; }

    /// <summary>TensorRT builds FP16 kernels where they are faster (about twice on recent GPUs; scores move in the third decimal).</summary>
    public bool TensorRtFp16 { get; set; }

    /// <summary>
    /// The largest batch a dynamic-batch model is run with: TensorRT's optimisation profile covers 1 to this, tuned
    /// for this (the size batches have when the detector is busy), and warming up runs every size up to it. The
    /// worker sets it from Batching:MaxBatchSize (and refuses Model:MaxBatchSize, which it would not read).
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 256)]
    public int MaxBatchSize { get; set; } = 8;

    /// <summary>Providers and GPU for a <c>--device</c> choice: a named device is that provider alone, auto tries the best first.</summary>
    public DetectorOptions On(DeviceChoice device)
    {
        Providers = device.Kind switch
        {
            DeviceKind.Auto => [.. BestFirst],
            DeviceKind.Cpu => [ExecutionProvider.Cpu],
            DeviceKind.Cuda => [ExecutionProvider.Cuda],
            _ => [ExecutionProvider.TensorRT],
        };
        DeviceId = device.Id;
        return this;
    }
}

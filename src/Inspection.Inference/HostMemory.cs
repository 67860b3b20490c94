using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Inference;

/// <summary>What the engine grafted onto a model: where NMS runs and where pixels become floats.</summary>
internal readonly record struct EngineGraph(NmsPlacement Nms, PreprocessPlacement Preprocess);

/// <summary>
/// Host memory for a session's inputs: ONNX Runtime's pinned (page-locked) allocator on CUDA and TensorRT, so the
/// copy to the GPU is a direct DMA without a staging copy; its default allocator on the CPU.
/// </summary>
internal sealed class HostMemory : IDisposable
{
    private readonly OrtMemoryInfo? _pinnedInfo;
    private readonly OrtAllocator? _pinned;

    public HostMemory(InferenceSession session, ExecutionProvider provider, ILogger logger)
    {
        if (provider == ExecutionProvider.Cpu)
        {
            return;
        }

        // Page-locked host memory belongs to no GPU: the CUDA and TensorRT providers register their pinned allocator
        // under device 0 whichever GPU they run on, so asking for the serving GPU's id would find none on GPU 1.
        _pinnedInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.CpuOutput);
        try
        {
            _pinned = new OrtAllocator(session, _pinnedInfo);
        }
        catch (OnnxRuntimeException e)
        {
            // A provider build without one still serves, a little slower (a staging copy per batch).
            logger.LogWarning("The {Provider} session has no pinned host allocator ({Reason}); inputs use pageable memory.", provider, e.Message);
            _pinnedInfo.Dispose();
            _pinnedInfo = null;
        }
    }

    public OrtAllocator Allocator => _pinned ?? OrtAllocator.DefaultInstance;

    /// <summary>What the log says: "pinned" on a GPU, "pageable" on the CPU.</summary>
    public string Kind => _pinned is null ? "pageable" : "pinned";

    public void Dispose()
    {
        _pinned?.Dispose();
        _pinnedInfo?.Dispose();
    }
}

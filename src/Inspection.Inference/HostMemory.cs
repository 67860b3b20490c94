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

    public HostMemory(InferenceSession session, ExecutionProvider provider, int deviceId)
    {
        if (provider == ExecutionProvider.Cpu)
        {
            return;
        }

        _pinnedInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.CpuOutput);
        _pinned = new OrtAllocator(session, _pinnedInfo);
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

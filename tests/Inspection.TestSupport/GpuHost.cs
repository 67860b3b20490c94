using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Inspection.TestSupport;

/// <summary>
/// What GPU support this host has, judged without ONNX Runtime or TorchSharp (whose answers the tests check):
/// nvidia-smi lists a GPU, and the dynamic loader finds the libraries ONNX Runtime's CUDA provider (CUDA 13,
/// cuDNN 9) and TensorRT provider (TensorRT 10) load. tools/gpu-check.sh reports the same facts.
/// </summary>
public static class GpuHost
{
    public static readonly string[] CudaLibraries = ["libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcudnn.so.9"];

    public static readonly string[] TensorRtLibraries = ["libnvinfer.so.10", "libnvonnxparser.so.10"];

    /// <summary>nvidia-smi runs and lists at least one GPU.</summary>
    public static bool HasGpu { get; } = NvidiaSmiListsAGpu();

    /// <summary>A GPU and every library ONNX Runtime's CUDA provider loads.</summary>
    public static bool HasCuda { get; } = HasGpu && Missing(CudaLibraries).Count == 0;

    /// <summary>CUDA as above and TensorRT 10.</summary>
    public static bool HasTensorRt { get; } = HasCuda && Missing(TensorRtLibraries).Count == 0;

    /// <summary>What the host has, in one phrase for a skip or assertion message.</summary>
    public static string Describe() => (HasGpu, HasCuda, HasTensorRt) switch
    {
        (false, _, _) => "no GPU (nvidia-smi lists none)",
        (true, false, _) => $"a GPU without {string.Join(", ", Missing(CudaLibraries))}",
        (true, true, false) => $"a GPU with CUDA, without {string.Join(", ", Missing(TensorRtLibraries))}",
        _ => "a GPU with CUDA and TensorRT",
    };

    public static List<string> Missing(IEnumerable<string> libraries) =>
        [.. libraries.Where(library => !NativeLibrary.TryLoad(library, out _))];

    private static bool NvidiaSmiListsAGpu()
    {
        try
        {
            using var smi = Process.Start(new ProcessStartInfo("nvidia-smi", "-L") { RedirectStandardOutput = true, RedirectStandardError = true });
            if (smi is null)
            {
                return false;
            }

            var output = smi.StandardOutput.ReadToEnd();
            smi.WaitForExit(10_000);
            return smi.HasExited && smi.ExitCode == 0 && output.Contains("GPU 0", StringComparison.Ordinal);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no nvidia-smi: no NVIDIA driver
        }
    }
}

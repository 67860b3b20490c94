using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace Inspection.Training;

/// <summary>Where training runs: the same code on the CPU or a CUDA device, chosen by --device auto|cpu|cuda.</summary>
public static class TrainingDevice
{
    /// <summary>
    /// Loads libtorch's bridge before TorchSharp does: where it is absent (the worker image, a build with
    /// -p:LibTorch=none) TorchSharp prints a page of probing trace before it throws; this says it in one line.
    /// </summary>
    public static void RequireLibTorch()
    {
        var bridge = new[] { "libLibTorchSharp.so", Path.Combine("runtimes", "linux-x64", "native", "libLibTorchSharp.so") }
            .Select(file => Path.Combine(AppContext.BaseDirectory, file))
            .FirstOrDefault(File.Exists);
        if (bridge is null || !File.Exists(Path.Combine(Path.GetDirectoryName(bridge)!, "libtorch_cpu.so")))
        {
            throw new Core.InspectionInputException(Core.NativeLibraries.LibTorchMissing);
        }

        try
        {
            NativeLibrary.Free(NativeLibrary.Load(bridge));
        }
        catch (DllNotFoundException e) when (Core.NativeLibraries.Explain(e) is { } missing)
        {
            throw new Core.InspectionInputException(missing);
        }
    }

    /// <summary>Resolves "auto", "cpu", "cuda" or "cuda:N"; "auto" takes CUDA when libtorch has it, with one log line when it does not.</summary>
    public static torch.Device Resolve(string requested, ILogger logger)
    {
        var cuda = torch.cuda.is_available();
        switch (requested.ToLowerInvariant())
        {
            case "auto" when cuda:
                return torch.CUDA;
            case "auto":
                logger.LogWarning("No CUDA device with a CUDA build of libtorch here: training runs on the CPU.");
                return torch.CPU;
            case "cpu":
                return torch.CPU;
            case var name when name.StartsWith("cuda", StringComparison.Ordinal):
                if (!cuda)
                {
                    throw new Core.InspectionInputException($"--device {requested}: this build of libtorch or this host has no CUDA; use --device cpu or auto.");
                }

                return new torch.Device(name);
            default:
                throw new Core.InspectionInputException($"--device '{requested}' is not one of auto, cpu, cuda, cuda:N.");
        }
    }
}

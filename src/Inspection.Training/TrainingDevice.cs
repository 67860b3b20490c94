using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace Inspection.Training;

/// <summary>Where training runs: the same code on the CPU or a CUDA device, chosen by --device (<see cref="Core.DeviceChoice"/>).</summary>
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

    /// <summary>The device for a <c>--device</c> choice; auto takes CUDA when libtorch has it, with one log line when it does not.</summary>
    public static torch.Device Resolve(string requested, ILogger logger)
    {
        var choice = Core.DeviceChoice.Parse(requested);
        var cuda = torch.cuda.is_available();
        switch (choice.Kind)
        {
            case Core.DeviceKind.Auto when cuda:
                return torch.CUDA;
            case Core.DeviceKind.Auto:
                logger.LogWarning("No CUDA device with a CUDA build of libtorch here: training runs on the CPU.");
                return torch.CPU;
            case Core.DeviceKind.Cpu:
                return torch.CPU;
            case Core.DeviceKind.TensorRt:
                throw new Core.InspectionInputException($"--device {requested}: TensorRT serves models, it does not train them; use --device {choice.Id} (CUDA) or cpu.");
            case var _ when !cuda:
                throw new Core.InspectionInputException($"--device {requested}: this build of libtorch or this host has no CUDA; use --device cpu or auto.");
            case var _ when choice.Id >= torch.cuda.device_count():
                throw new Core.InspectionInputException($"--device {requested}: this host has {torch.cuda.device_count()} CUDA device(s), numbered from 0.");
            default:
                return new torch.Device(DeviceType.CUDA, choice.Id);
        }
    }
}

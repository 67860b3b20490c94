using Inspection.Core;
using Inspection.Inference;
using Inspection.Models;

namespace Inspection.Worker.Serving;

/// <summary>
/// A loaded model and who it is: the name and version results carry (the registry's, or the model's own), and
/// its registry entry when it came from one. Batches and heartbeats run it between ModelHost.AcquireAsync and
/// Release; the swap that replaces it disposes of it once that holder has released it.
/// </summary>
public sealed class ServingModel(YoloDetector detector, string name, string version, RegisteredModel? registered) : IAsyncDisposable
{
    public YoloDetector Detector { get; } = detector;

    public ModelInfo Info => Detector.Model;

    public string Name { get; } = name;

    public string Version { get; } = version;

    public RegisteredModel? Registered { get; } = registered;

    public int? RegistryVersion => Registered?.Version;

    public ValueTask DisposeAsync() => Detector.DisposeAsync();

    public override string ToString() => $"{Name} {Version}";
}

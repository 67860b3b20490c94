using System.Globalization;
using Inspection.Core;
using Inspection.Inference;

namespace Inspection.Bench;

internal sealed record BenchOptions(IReadOnlyDictionary<string, string> Values)
{
    /// <summary>The shared data folder: $INSPECTION_SHARED, or ../shared beside the repository.</summary>
    public static string Shared => Environment.GetEnvironmentVariable("INSPECTION_SHARED") is { Length: > 0 } custom
        ? custom
        : Path.GetFullPath(Path.Combine(RepositoryRoot(), "..", "shared"));

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Inspection.sln")))
            {
                return dir.FullName;
            }
        }

        return Environment.CurrentDirectory;
    }

    /// <summary>
    /// Where every benchmark runs its detectors, workers and training (--device: auto, cpu, 0, cuda[:N],
    /// tensorrt[:N]; cpu unless given, the machines these figures come from), and --fp16 true for TensorRT.
    /// </summary>
    public static DeviceChoice Device { get; private set; } = DeviceChoice.Parse("cpu");

    public static bool Fp16 { get; private set; }

    /// <summary>
    /// The detector's options for <paramref name="model"/> on the chosen device, running as many batches at once as
    /// the worker would (its default, or <c>--set Inspection:Model:ConcurrentBatches=N</c>), so the engine alone is
    /// the engine the worker runs.
    /// </summary>
    public static DetectorOptions Detector(string model) =>
        new DetectorOptions { ModelPath = model, TensorRtFp16 = Fp16, Preprocess = Preprocess, ConcurrentBatches = ConcurrentBatches }.On(Device);

    /// <summary>Batches a detector runs at once: <c>--set Inspection:Model:ConcurrentBatches=N</c>, or null for the worker's default.</summary>
    private static int? ConcurrentBatches { get; set; }

    /// <summary>Where pixels become floats (--preprocess InGraph|Managed; InGraph, the engine's default, unless given).</summary>
    public static PreprocessPlacement Preprocess { get; private set; }

    /// <summary>Settings given with --set Key=value,Key=value, which win over a benchmark's own: the worker with one change.</summary>
    private static IReadOnlyList<string> WorkerSettings { get; set; } = [];

    /// <summary>The worker's configuration for the chosen device.</summary>
    public static IEnumerable<string> WorkerDevice()
    {
        var detector = Detector(string.Empty);
        return detector.Providers.Select((p, i) => $"--Inspection:Model:Providers:{i}={p}")
            .Append($"--Inspection:Model:DeviceId={detector.DeviceId}")
            .Append($"--Inspection:Model:TensorRtFp16={Fp16}");
    }

    /// <summary>A benchmark's worker arguments with the settings given with --set after them, so that they win.</summary>
    public static string[] WithSettings(IEnumerable<string> arguments) => [.. arguments, .. WorkerSettings];

    public static BenchOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        var options = new BenchOptions(values);
        Device = DeviceChoice.Parse(options.Get("device", "cpu"));
        Fp16 = bool.Parse(options.Get("fp16", "false"));
        Preprocess = Enum.Parse<PreprocessPlacement>(options.Get("preprocess", nameof(PreprocessPlacement.InGraph)), ignoreCase: true);
        var settings = options.Get("set", string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (settings.FirstOrDefault(setting => !setting.Contains('=')) is { } malformed)
        {
            throw new InspectionInputException($"--set: '{malformed}' is not Key=value (for example --set Inspection:Cameras:0:Nice=0,Inspection:Batching:MaxWaitMilliseconds=5).");
        }

        WorkerSettings = [.. settings.Select(setting => "--" + setting)];
        const string Concurrent = "Inspection:Model:ConcurrentBatches=";
        ConcurrentBatches = settings.LastOrDefault(s => s.StartsWith(Concurrent, StringComparison.OrdinalIgnoreCase)) is not { } given ? null
            : int.TryParse(given[Concurrent.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is >= 1 and <= 64 ? count
            : throw new InspectionInputException($"--set: '{given}' needs a whole number of batches from 1 to 64 (for example {Concurrent}2).");
        return options;
    }

    public string Get(string name, string fallback) => Values.GetValueOrDefault(name, fallback);

    public int GetInt(string name, int fallback) =>
        Values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double GetDouble(string name, double fallback) =>
        Values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

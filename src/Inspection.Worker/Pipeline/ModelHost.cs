using Inspection.Core;
using Inspection.Inference;
using Inspection.Worker.Configuration;
using Inspection.Worker.Evidence;
using Inspection.Worker.Observability;
using Inspection.Worker.Rules;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Pipeline;

/// <summary>
/// Loads the model at start (the configured one, or the bundled demo model), on the best execution provider
/// this host has, and resolves the rules against its classes: a rule naming a class the model lacks stops the
/// start with a clear message.
/// </summary>
public sealed class ModelHost(IOptions<InspectionOptions> options, RuleBook rules, EvidenceStore evidence, WorkerMetrics metrics, ILoggerFactory loggers)
    : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<ModelHost>();
    private YoloDetector? _detector;
    private int _disposed;

    public YoloDetector Detector => _detector ?? throw new InvalidOperationException("The model is not loaded yet.");

    public bool IsLoaded => _detector is not null;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var configured = options.Value.Model;
        var path = configured.ModelPath.Length > 0 ? configured.ModelPath
            : BundledFiles.Find(BundledFiles.DemoModel) ?? throw new InspectionInputException($"No model is configured (Inspection:Model:ModelPath) and the bundled demo model {BundledFiles.DemoModel} is not beside the worker.");
        var detectorOptions = new DetectorOptions
        {
            ModelPath = path,
            Providers = configured.Providers,
            DeviceId = configured.DeviceId,
            IntraOpThreads = configured.IntraOpThreads,
            ImageSize = configured.ImageSize,
            Nms = configured.Nms,
            TensorRtCacheDirectory = configured.TensorRtCacheDirectory,
        };
        var detector = YoloDetector.Open(detectorOptions, loggers);
        try
        {
            rules.UseModel(detector.Model.Names, [.. options.Value.Cameras.Select(c => c.Id)]);
        }
        catch
        {
            detector.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }

        evidence.UseClassNames(detector.Model.Names);
        metrics.ModelInfo.WithLabels(detector.Model.Name, detector.Model.Version, detector.Provider.ToString()).Set(1);
        _logger.LogInformation("Model {Name} {Version} ({Path}): {Classes} classes, {Width}x{Height} input, on {Provider}.", detector.Model.Name, detector.Model.Version, path, detector.Model.Names.Count, detector.Model.InputWidth, detector.Model.InputHeight, detector.Provider);
        _detector = detector;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // registered both as a service and as a hosted service: disposed twice
        }

        if (_detector is not null)
        {
            await _detector.DisposeAsync().ConfigureAwait(false);
        }
    }
}

using Inspection.Core;
using Inspection.Inference;
using Inspection.Models;
using Inspection.Worker.Configuration;
using Inspection.Worker.Evidence;
using Inspection.Worker.Observability;
using Inspection.Worker.Pipeline;
using Inspection.Worker.Rules;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Serving;

/// <summary>A model swap's outcome, as published on the service's model topic.</summary>
public sealed record ModelEvent(string Event, string Name, string Version, string? Previous, string Reason);

/// <summary>
/// The model that serves, and the checked way to change it. At start it loads the configured model (the
/// registry's current version, a file, or the bundled demo model). A swap loads the candidate in the
/// background and admits it only if its SHA-256 matches its card, it loads, it keeps the contract (input size,
/// the classes the rules name), and it reproduces its golden set; then the detector stage picks it up between
/// two batches. A refused candidate leaves the serving model as it was, and says why.
/// </summary>
public sealed class ModelHost(IOptions<InspectionOptions> options, RuleBook rules, EvidenceStore evidence, WorkerMetrics metrics, ILoggerFactory loggers)
    : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<ModelHost>();
    private readonly SemaphoreSlim _swapping = new(1, 1);
    private readonly SemaphoreSlim _inUse = new(1, 1);
    private ServingModel? _serving;
    private ShadowRun? _shadow;
    private int _disposed;

    /// <summary>Raised after every swap, refusal and rollback.</summary>
    public event Action<ModelEvent>? Changed;

    public ServingModel Serving => Volatile.Read(ref _serving) ?? throw new InvalidOperationException("The model is not loaded yet.");

    public bool IsLoaded => Volatile.Read(ref _serving) is not null;

    public ModelRegistry? Registry { get; } = options.Value.Model.Registry is { Length: > 0 } root ? new ModelRegistry(root) : null;

    public string? RegistryName => options.Value.Model.Name;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        ServingModel first;
        if (Registry is not null)
        {
            var current = Registry.Current(RegistryName!) ?? throw new InspectionInputException($"The registry {Registry.Root} has no current version of '{RegistryName}'; promote one with 'inspection models promote'.");
            first = LoadChecked(current, contractWith: null);
        }
        else
        {
            var configured = options.Value.Model;
            var path = configured.ModelPath.Length > 0 ? configured.ModelPath
                : BundledFiles.Find(BundledFiles.DemoModel) ?? throw new InspectionInputException($"No model is configured (Inspection:Model:ModelPath) and the bundled demo model {BundledFiles.DemoModel} is not beside the worker.");
            var detector = Open(path);
            first = new ServingModel(detector, detector.Model.Name, detector.Model.Version, null);
            CheckContract(first, contractWith: null);
        }

        Use(first);
        _logger.LogInformation("Model {Model} ({Path}): {Classes} classes, {Width}x{Height} input, on {Provider}.", first, first.Registered?.ModelPath ?? options.Value.Model.ModelPath, first.Info.Names.Count, first.Info.InputWidth, first.Info.InputHeight, first.Detector.Provider);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The candidate running in shadow mode, if any.</summary>
    public ShadowRun? Shadow => Volatile.Read(ref _shadow);

    /// <summary>
    /// The serving model for one batch (or one heartbeat): hold it until <see cref="Release"/>. A swap disposes of
    /// the model it replaced once the holder, if any, has released it.
    /// </summary>
    public async ValueTask<ServingModel> AcquireAsync()
    {
        await _inUse.WaitAsync().ConfigureAwait(false);
        return Serving;
    }

    public void Release() => _inUse.Release();

    /// <summary>Loads <paramref name="candidate"/> with a swap's checks and runs it beside the serving model on a sample of batches.</summary>
    public async Task<ShadowRun> StartShadowAsync(RegisteredModel candidate, double sampleRate)
    {
        var loaded = await Task.Run(() => LoadChecked(candidate, contractWith: Serving)).ConfigureAwait(false);
        var run = new ShadowRun(loaded, sampleRate, metrics);
        await StopShadowAsync().ConfigureAwait(false);
        Volatile.Write(ref _shadow, run);
        _logger.LogInformation("Shadow mode: {Candidate} inspects {Rate:P0} of the batches beside {Serving}.", loaded, sampleRate, Serving);
        return run;
    }

    public async Task StopShadowAsync()
    {
        await _inUse.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Interlocked.Exchange(ref _shadow, null) is { } stopped)
            {
                await stopped.Candidate.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _inUse.Release();
        }
    }

    /// <summary>
    /// Loads <paramref name="candidate"/> beside the serving model and, if it passes every check, makes it the
    /// serving model; the detector stage changes over between two batches. Returns the event that was published.
    /// </summary>
    /// <param name="cancel">A cancelled swap (a command past its time) leaves the serving model: the candidate is let go, never used.</param>
    public async Task<ModelEvent> SwapAsync(RegisteredModel candidate, string reason, string @event = "swapped", CancellationToken cancel = default)
    {
        await _swapping.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var previous = Serving;
            ServingModel loaded;
            try
            {
                loaded = await Task.Run(() => LoadChecked(candidate, contractWith: previous)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InspectionInputException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or IOException)
            {
                metrics.ModelSwaps.WithLabels("refused").Inc();
                return Raise(new ModelEvent("refused", candidate.Name, candidate.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), previous.Version, e.Message));
            }

            if (cancel.IsCancellationRequested)
            {
                await loaded.DisposeAsync().ConfigureAwait(false);
                cancel.ThrowIfCancellationRequested();
            }

            Use(loaded);
            await RetireAsync(previous).ConfigureAwait(false);
            metrics.ModelSwaps.WithLabels(@event).Inc();
            return Raise(new ModelEvent(@event, loaded.Name, loaded.Version, previous.Version, reason));
        }
        finally
        {
            _swapping.Release();
        }
    }

    /// <summary>Loads a registered version and checks it as a swap does; the caller owns the result.</summary>
    public ServingModel LoadChecked(RegisteredModel model, ServingModel? contractWith)
    {
        model.VerifySha256();
        var detector = Open(model.ModelPath);
        var loaded = new ServingModel(detector, model.Name, model.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), model);
        try
        {
            CheckContract(loaded, contractWith);
            if (model.HasGoldenSet)
            {
                var failures = GoldenCheck.Run(detector, GoldenSet.Load(model.GoldenPath));
                if (failures.Count > 0)
                {
                    throw new InspectionInputException($"{model.Name} version {model.Version} fails its golden set: {string.Join("; ", failures)}");
                }
            }

            return loaded;
        }
        catch
        {
            loaded.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // registered both as a service and as a hosted service: disposed twice
        }

        if (Volatile.Read(ref _serving) is { } serving)
        {
            await serving.DisposeAsync().ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _shadow, null) is { } shadow)
        {
            await shadow.Candidate.DisposeAsync().ConfigureAwait(false);
        }

        _swapping.Dispose();
        _inUse.Dispose();
    }

    private YoloDetector Open(string path)
    {
        var configured = options.Value.Model;
        return YoloDetector.Open(new DetectorOptions
        {
            ModelPath = path,
            Providers = configured.Providers,
            DeviceId = configured.DeviceId,
            IntraOpThreads = configured.IntraOpThreads,
            ImageSize = configured.ImageSize,
            Nms = configured.Nms,
            TensorRtCacheDirectory = configured.TensorRtCacheDirectory,
        }, loggers);
    }

    /// <summary>The same input size as the serving model, and every class the rules name.</summary>
    private void CheckContract(ServingModel candidate, ServingModel? contractWith)
    {
        if (contractWith is not null && (candidate.Info.InputWidth, candidate.Info.InputHeight) != (contractWith.Info.InputWidth, contractWith.Info.InputHeight))
        {
            throw new InspectionInputException($"{candidate} takes {candidate.Info.InputWidth}x{candidate.Info.InputHeight} images, the serving model {contractWith.Info.InputWidth}x{contractWith.Info.InputHeight}.");
        }

        rules.Check(candidate.Info.Names, options.Value.Cameras.Select(c => c.Id).ToList());
    }

    /// <summary>
    /// Disposes of a model a swap replaced. Batches acquire the serving model under <see cref="_inUse"/>, so once this
    /// has held it, the batch that may have run the old model is over and every later one takes the new model.
    /// Disposing here, not at the next batch, frees every replaced model, also when several swaps land between two
    /// batches or no batch comes at all.
    /// </summary>
    private async Task RetireAsync(ServingModel replaced)
    {
        await _inUse.WaitAsync().ConfigureAwait(false);
        _inUse.Release();
        await replaced.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Makes <paramref name="model"/> the serving one: rules, evidence and metrics follow it.</summary>
    private void Use(ServingModel model)
    {
        rules.UseModel(model.Info.Names, [.. options.Value.Cameras.Select(c => c.Id)]);
        evidence.UseClassNames(model.Info.Names);
        foreach (var labels in metrics.ModelInfo.GetAllLabelValues().ToList())
        {
            metrics.ModelInfo.RemoveLabelled(labels);
        }

        metrics.ModelInfo.WithLabels(model.Name, model.Version, model.Detector.Provider.ToString()).Set(1);
        Volatile.Write(ref _serving, model);
    }

    private ModelEvent Raise(ModelEvent change)
    {
        if (change.Event == "refused")
        {
            _logger.LogError("Model {Name} version {Version} refused; {Previous} keeps serving: {Reason}", change.Name, change.Version, change.Previous, change.Reason);
        }
        else
        {
            _logger.LogInformation("Model {Name} version {Version} {Event} (was {Previous}): {Reason}", change.Name, change.Version, change.Event, change.Previous, change.Reason);
        }

        Changed?.Invoke(change);
        return change;
    }
}

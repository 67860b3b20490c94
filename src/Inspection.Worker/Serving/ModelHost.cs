using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
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
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Worker.Serving;

/// <summary>A model swap's outcome, as published on the service's model topic.</summary>
public sealed record ModelEvent(string Event, string Name, string Version, string? Previous, string Reason);

/// <summary>
/// The model that serves, and the checked way to change it. At start it loads the configured model (the
/// registry's current version, a file, or the bundled demo model). A registry version (at start, in a swap, for
/// shadow mode) is admitted only if: it is signed by the configured public key and unchanged since (when one is
/// configured); its model.onnx has the SHA-256 that was signed or its card records (checked on a private copy,
/// which is what gets loaded); a child process loads it on the CPU and finds the contract kept (input size,
/// the classes the rules name) and the golden set reproduced (<see cref="CandidateCheck"/>); and the worker then
/// loads it on its own providers and checks contract and golden set again. Then the detector stage picks it up
/// between two batches. A refused candidate leaves the serving model as it was, and says why; a refused current
/// version at start leaves the newest earlier version that passes serving.
/// </summary>
public sealed class ModelHost(IOptions<InspectionOptions> options, RuleBook rules, EvidenceStore evidence, WorkerMetrics metrics, ILoggerFactory loggers)
    : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<ModelHost>();
    private readonly SemaphoreSlim _swapping = new(1, 1);
    // The detector stage's concurrent batches and a heartbeat hold the model at once.
    private readonly SharedUse _inUse = new(options.Value.Model.MostConcurrentBatches + 1);
    private readonly ECDsa? _publicKey = options.Value.Model.PublicKeyFile is { Length: > 0 } key ? SigningKeys.LoadPublicKey(key) : null;
    private ServingModel? _serving;
    private ShadowRun? _shadow;
    private int _disposed;

    /// <summary>Raised after every swap, refusal and rollback.</summary>
    public event Action<ModelEvent>? Changed;

    public ServingModel Serving => Volatile.Read(ref _serving) ?? throw new InvalidOperationException("The model is not loaded yet.");

    public bool IsLoaded => Volatile.Read(ref _serving) is not null;

    public ModelRegistry? Registry { get; } = options.Value.Model.Registry is { Length: > 0 } root ? new ModelRegistry(root) : null;

    public string? RegistryName => options.Value.Model.Name;

    /// <summary>The registry's current version when it was refused at start (and an earlier version serves), so it is not retried until the pointer changes.</summary>
    public int? RefusedAtStart { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ServingModel first;
        if (Registry is not null)
        {
            first = await LoadCurrentAsync().ConfigureAwait(false);
        }
        else
        {
            var configured = options.Value.Model;
            var path = configured.ModelPath.Length > 0 ? configured.ModelPath
                : BundledFiles.Find(BundledFiles.DemoModel) ?? throw new InspectionInputException($"No model is configured (Inspection:Model:ModelPath) and the bundled demo model {BundledFiles.DemoModel} is not beside the worker.");
            var detector = Open(path);
            first = new ServingModel(detector, detector.Model.Name, detector.Model.Version, null);
            CheckContract(first, contractWith: null);
            WarmUp(first);
        }

        Use(first);
        _logger.LogInformation("Model {Model} ({Path}): {Classes} classes, {Width}x{Height} input, on {Provider}{Signed}.", first, first.Registered?.ModelPath ?? options.Value.Model.ModelPath, first.Info.Names.Count, first.Info.InputWidth, first.Info.InputHeight, first.Detector.Provider, _publicKey is null ? string.Empty : ", signature verified");
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
        await _inUse.EnterAsync().ConfigureAwait(false);
        return Serving;
    }

    public void Release() => _inUse.Exit();

    /// <summary>
    /// Loads <paramref name="candidate"/> with a swap's checks and runs it beside the serving model on a sample of
    /// batches. A refused candidate is published and counted as a refused swap is, and thrown with its reason.
    /// </summary>
    public async Task<ShadowRun> StartShadowAsync(RegisteredModel candidate, double sampleRate)
    {
        ServingModel loaded;
        try
        {
            loaded = await LoadCheckedAsync(candidate, contractWith: Serving).ConfigureAwait(false);
        }
        catch (Exception e) when (IsRefusal(e))
        {
            throw new InspectionInputException($"version {candidate.Version} refused: {Refuse(candidate.Name, candidate.Version, Serving.Version, e).Reason}", e);
        }

        var run = new ShadowRun(loaded, sampleRate, metrics);
        await StopShadowAsync().ConfigureAwait(false);
        Volatile.Write(ref _shadow, run);
        _logger.LogInformation("Shadow mode: {Candidate} inspects {Rate:P0} of the batches beside {Serving}.", loaded, sampleRate, Serving);
        return run;
    }

    public Task StopShadowAsync() => _inUse.ExclusiveAsync(async () =>
    {
        if (Interlocked.Exchange(ref _shadow, null) is { } stopped)
        {
            await stopped.Candidate.DisposeAsync().ConfigureAwait(false);
        }
    });

    /// <summary>
    /// Loads <paramref name="candidate"/> beside the serving model and, if it passes every check, makes it the
    /// serving model; the detector stage changes over between two batches. Returns the event that was published.
    /// </summary>
    /// <param name="cancel">A cancelled swap (a command past its time) leaves the serving model: the candidate is let go, never used.</param>
    /// <param name="accepted">Runs once the candidate serves and before the change is announced: a command moves the
    /// registry's pointer there, so whoever the event sends to look (the model page) finds the registry moved too.</param>
    public async Task<ModelEvent> SwapAsync(RegisteredModel candidate, string reason, string @event = "swapped", CancellationToken cancel = default, Action? accepted = null)
    {
        await _swapping.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var previous = Serving;
            ServingModel loaded;
            try
            {
                loaded = await LoadCheckedAsync(candidate, contractWith: previous).ConfigureAwait(false);
            }
            catch (Exception e) when (IsRefusal(e))
            {
                return Refuse(candidate.Name, candidate.Version, previous.Version, e);
            }

            if (cancel.IsCancellationRequested)
            {
                await loaded.DisposeAsync().ConfigureAwait(false);
                cancel.ThrowIfCancellationRequested();
            }

            Use(loaded);
            await RetireAsync(previous).ConfigureAwait(false);
            metrics.ModelSwaps.WithLabels(@event).Inc();
            var change = new ModelEvent(@event, loaded.Name, loaded.Version, previous.Version, reason);
            try
            {
                accepted?.Invoke();
            }
            finally
            {
                Raise(change); // the new model serves whether or not the pointer could follow
            }

            return change;
        }
        finally
        {
            _swapping.Release();
        }
    }

    /// <summary>
    /// The registry's current version; when it is refused (published and counted like a refused swap), the newest of
    /// the versions that were current before it that passes, so a restart keeps serving what the running worker
    /// kept serving. Throws when none passes.
    /// </summary>
    private async Task<ServingModel> LoadCurrentAsync()
    {
        var pointer = Registry!.Pointer(RegistryName!) ?? throw new InspectionInputException($"The registry {Registry.Root} has no current version of '{RegistryName}'; promote one with 'inspection models promote'.");
        var reasons = new List<string>();
        foreach (var version in pointer.Previous.Prepend(pointer.Version))
        {
            try
            {
                var loaded = await LoadCheckedAsync(Registry.Get(RegistryName!, version), contractWith: null).ConfigureAwait(false);
                if (version != pointer.Version)
                {
                    RefusedAtStart = pointer.Version;
                    _logger.LogWarning("Serving {Model}, which was current before: the registry's current version {Current} was refused.", loaded, pointer.Version);
                }

                return loaded;
            }
            catch (Exception e) when (IsRefusal(e))
            {
                reasons.Add(Refuse(RegistryName!, version, null, e).Reason);
            }
        }

        throw new InspectionInputException($"no version of '{RegistryName}' in {Registry.Root} may serve: {string.Join(" ", reasons)}");
    }

    /// <summary>
    /// Loads a registered version after every check (see the class summary), timing each in
    /// inspection_model_check_seconds; the caller owns the result. Throws with the reason when a check fails.
    /// </summary>
    private async Task<ServingModel> LoadCheckedAsync(RegisteredModel model, ServingModel? contractWith)
    {
        var who = $"{model.Name} version {model.Version}";
        var folder = Directory.CreateTempSubdirectory("inspection-candidate-"); // mode 0700: the copy is the worker's alone
        var copy = Path.Combine(folder.FullName, RegisteredModel.ModelFile);
        try
        {
            await Task.Run(() =>
            {
                var sha256 = model.Card.Sha256;
                if (_publicKey is not null)
                {
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        sha256 = ModelSignature.Verify(model, _publicKey)[RegisteredModel.ModelFile];
                    }
                    finally
                    {
                        metrics.ModelChecks.WithLabels("signature").Observe(clock.Elapsed.TotalSeconds);
                    }
                }

                model.CopyModel(copy, sha256);
            }).ConfigureAwait(false);

            var configured = options.Value.Model;
            var started = Stopwatch.StartNew();
            try
            {
                var size = contractWith is null ? ((int, int)?)null : (contractWith.Info.InputWidth, contractWith.Info.InputHeight);
                await CandidateCheck.CheckAsync(new CandidateCheck.Request(copy, model.HasGoldenSet ? model.GoldenPath : null, size, rules.ClassesNamed, configured.ImageSize, configured.Nms), configured.CheckTimeout).ConfigureAwait(false);
            }
            catch (InspectionInputException e)
            {
                throw new InspectionInputException($"{who}, checked in a separate process: {e.Message.Replace(copy, model.ModelPath, StringComparison.Ordinal)}", e);
            }

            metrics.ModelChecks.WithLabels("process").Observe(started.Elapsed.TotalSeconds);
            started.Restart();
            var loaded = await Task.Run(() => Load(model, copy, contractWith)).ConfigureAwait(false);
            metrics.ModelChecks.WithLabels("load").Observe(started.Elapsed.TotalSeconds);
            return loaded;
        }
        finally
        {
            folder.Delete(recursive: true); // loaded or not: ONNX Runtime holds the model in memory
        }
    }

    /// <summary>Loads the checked copy on the configured providers and checks contract and golden set there (a GPU may compute differently).</summary>
    private ServingModel Load(RegisteredModel model, string copy, ServingModel? contractWith)
    {
        YoloDetector detector;
        try
        {
            detector = Open(copy);
        }
        catch (InspectionInputException e)
        {
            throw new InspectionInputException(e.Message.Replace(copy, model.ModelPath, StringComparison.Ordinal), e);
        }

        var loaded = new ServingModel(detector, model.Name, model.Version.ToString(CultureInfo.InvariantCulture), model);
        try
        {
            CheckContract(loaded, contractWith);
            if (model.HasGoldenSet)
            {
                var failures = GoldenCheck.Run(detector, GoldenSet.Load(model.GoldenPath));
                if (failures.Count > 0)
                {
                    throw new InspectionInputException($"{model.Name} version {model.Version} fails its golden set on {detector.Provider}: {string.Join("; ", failures)}");
                }
            }

            WarmUp(loaded);
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

        _publicKey?.Dispose();
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
            ConcurrentBatches = configured.ConcurrentBatches,
            ImageSize = configured.ImageSize,
            Nms = configured.Nms,
            Preprocess = configured.Preprocess,
            TensorRtCacheDirectory = configured.TensorRtCacheDirectory,
            TensorRtFp16 = configured.TensorRtFp16,
            MaxBatchSize = options.Value.Batching.MaxBatchSize,
        }, loggers);
    }

    /// <summary>Runs a model at every batch size the batcher can form before it serves, so no batch on the line waits for an engine build.</summary>
    private void WarmUp(ServingModel model)
    {
        var times = model.Detector.WarmUp();
        foreach (var (batch, time) in times)
        {
            metrics.ModelWarmUp.WithLabels(batch.ToString(CultureInfo.InvariantCulture)).Set(time.TotalSeconds);
        }

        var slowest = times.MaxBy(t => t.Time);
        _logger.LogInformation(
            "Model {Model} warmed up at batch sizes {Sizes} on {Provider} in {Milliseconds:0} ms (slowest batch {Batch}: {Slowest:0} ms).",
            model, string.Join(",", times.Select(t => t.Batch)), model.Detector.Provider, times.Sum(t => t.Time.TotalMilliseconds), slowest.Batch, slowest.Time.TotalMilliseconds);
    }

    /// <summary>The same input size as the serving model, and every class the rules name.</summary>
    private void CheckContract(ServingModel candidate, ServingModel? contractWith)
    {
        if (contractWith is not null)
        {
            CandidateCheck.RequireInputSize(candidate.ToString(), candidate.Info, (contractWith.Info.InputWidth, contractWith.Info.InputHeight));
        }

        rules.Check(candidate.Info.Names, options.Value.Cameras.Select(c => c.Id).ToList());
    }

    /// <summary>
    /// Disposes of a model a swap replaced. Batches acquire the serving model under <see cref="_inUse"/>, so once this
    /// has held it alone, the batches that may have run the old model are over and every later one takes the new model.
    /// Disposing here, not at the next batch, frees every replaced model, also when several swaps land between two
    /// batches or no batch comes at all.
    /// </summary>
    private async Task RetireAsync(ServingModel replaced)
    {
        await _inUse.ExclusiveAsync(() => Task.CompletedTask).ConfigureAwait(false);
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

    /// <summary>What a failed check throws: the user's or the model's fault, never a bug of the worker's.</summary>
    private static bool IsRefusal(Exception e) => e is InspectionInputException or OnnxRuntimeException or IOException or UnauthorizedAccessException;

    /// <summary>Counts, logs and publishes a refused candidate.</summary>
    private ModelEvent Refuse(string name, int version, string? serving, Exception e)
    {
        metrics.ModelSwaps.WithLabels("refused").Inc();
        return Raise(new ModelEvent("refused", name, version.ToString(CultureInfo.InvariantCulture), serving, e.Message));
    }

    private ModelEvent Raise(ModelEvent change)
    {
        if (change.Event == "refused")
        {
            _logger.LogError("Model {Name} version {Version} refused; {Serving}: {Reason}", change.Name, change.Version, change.Previous is { } previous ? $"version {previous} keeps serving" : "at start", change.Reason);
        }
        else
        {
            _logger.LogInformation("Model {Name} version {Version} {Event} (was {Previous}): {Reason}", change.Name, change.Version, change.Event, change.Previous, change.Reason);
        }

        Changed?.Invoke(change);
        return change;
    }
}

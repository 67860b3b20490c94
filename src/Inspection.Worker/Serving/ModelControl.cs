using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Models;
using Inspection.Worker.Configuration;
using Inspection.Worker.Control;
using Inspection.Worker.Observability;
using Inspection.Worker.Output;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Serving;

/// <summary>
/// Changing the model while the line runs: follows the registry's current-version pointer (a promotion from
/// the command line or a retraining run), answers the model commands (model, promote, rollback, shadow,
/// shadow-stop, heartbeat), publishes every change on {line}/service/model, and runs the golden-set heartbeat
/// on {line}/service/heartbeat (as service events, through the sinks). Registry changes and commands are taken one at a time.
/// </summary>
public sealed class ModelControl : BackgroundService
{
    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly ModelOptions _options;
    private readonly ModelHost _model;
    private readonly SinkFanOut _sinks;
    private readonly WorkerMetrics _metrics;
    private readonly ILogger<ModelControl> _logger;
    private readonly SemaphoreSlim _changing = new(1, 1);
    private int? _refused;

    public ModelControl(IOptions<InspectionOptions> options, ModelHost model, CommandRouter commands, SinkFanOut sinks, WorkerMetrics metrics, ILogger<ModelControl> logger)
    {
        (_options, _model, _sinks, _metrics, _logger) = (options.Value.Model, model, sinks, metrics, logger);
        _model.Changed += change => _ = Publish("model", change);
        commands.Register("model", (_, _) => Task.FromResult<JsonNode?>(Status()), steers: false);
        commands.Register("promote", PromoteAsync, steers: true);
        commands.Register("rollback", RollbackAsync, steers: true);
        commands.Register("shadow", ShadowAsync, steers: true);
        commands.Register("shadow-stop", async (_, _) =>
        {
            await _model.StopShadowAsync().ConfigureAwait(false);
            return Status();
        }, steers: true);
        commands.Register("heartbeat", async (_, _) => JsonSerializer.SerializeToNode(await HeartbeatAsync().ConfigureAwait(false), JsonOptions), steers: false);
    }

    public override void Dispose()
    {
        _changing.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var heartbeat = _options.HeartbeatInterval > TimeSpan.Zero ? HeartbeatLoopAsync(stoppingToken) : Task.CompletedTask;
        if (_model.Registry is not null)
        {
            _refused = _model.RefusedAtStart;
            using var timer = new PeriodicTimer(_options.RegistryPollInterval);
            while (await Wait(timer, stoppingToken).ConfigureAwait(false))
            {
                await FollowRegistryAsync().ConfigureAwait(false);
            }
        }

        await heartbeat.ConfigureAwait(false);
    }

    /// <summary>Swaps to the registry's current version when it is not the one serving (and was not refused already).</summary>
    private async Task FollowRegistryAsync()
    {
        await _changing.WaitAsync().ConfigureAwait(false);
        try
        {
            var pointer = _model.Registry!.Pointer(_options.Name!);
            if (pointer is null || pointer.Version == _model.Serving.RegistryVersion || pointer.Version == _refused)
            {
                return;
            }

            var change = await _model.SwapAsync(_model.Registry.Get(_options.Name!, pointer.Version), $"the registry's current version is now {pointer.Version} ({pointer.Reason})").ConfigureAwait(false);
            _refused = change.Event == "refused" ? pointer.Version : null;
        }
        catch (InspectionInputException e)
        {
            _logger.LogError("The registry's current version cannot be used: {Reason}", e.Message);
        }
        finally
        {
            _changing.Release();
        }
    }

    private async Task<JsonNode?> PromoteAsync(CommandRequest request, CancellationToken cancel)
    {
        var registry = RequireRegistry();
        var version = VersionArgument(request);
        if (_options.Shadow.MinAgreement > 0)
        {
            var shadow = _model.Shadow;
            if (shadow?.Candidate.RegistryVersion != version || shadow.Frames < _options.Shadow.MinFrames)
            {
                throw new InspectionInputException($"promotion needs version {version} run in shadow mode for {_options.Shadow.MinFrames} frames first (the 'shadow' command)");
            }

            if (shadow.VerdictAgreement < _options.Shadow.MinAgreement)
            {
                throw new InspectionInputException(string.Create(CultureInfo.InvariantCulture, $"version {version} agreed with the serving model on {shadow.VerdictAgreement:P1} of {shadow.Frames} verdicts in shadow mode; promotion needs {_options.Shadow.MinAgreement:P1}"));
            }
        }

        return await ChangeAsync(registry, version, "promoted by command", "swapped", () => registry.Promote(_options.Name!, version, "promoted by command"), cancel).ConfigureAwait(false);
    }

    private async Task<JsonNode?> RollbackAsync(CommandRequest request, CancellationToken cancel)
    {
        var registry = RequireRegistry();
        var pointer = registry.Pointer(_options.Name!) ?? throw new InspectionInputException($"'{_options.Name}' has no current version to roll back from");
        if (pointer.Previous.Count == 0)
        {
            throw new InspectionInputException($"version {pointer.Version} has no earlier version to roll back to");
        }

        return await ChangeAsync(registry, pointer.Previous[0], "rolled back by command", "rolled_back", () => registry.Rollback(_options.Name!, "rolled back by command"), cancel).ConfigureAwait(false);
    }

    /// <summary>Swaps first and moves the registry's pointer only if the swap was accepted, before the swap is announced.</summary>
    private async Task<JsonNode?> ChangeAsync(ModelRegistry registry, int version, string reason, string @event, Action movePointer, CancellationToken cancel)
    {
        await _changing.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var change = await _model.SwapAsync(registry.Get(_options.Name!, version), reason, @event, cancel, movePointer).ConfigureAwait(false);
            if (change.Event == "refused")
            {
                throw new InspectionInputException($"version {version} refused: {change.Reason}");
            }

            _refused = null;
            return Status();
        }
        finally
        {
            _changing.Release();
        }
    }

    private async Task<JsonNode?> ShadowAsync(CommandRequest request, CancellationToken cancel)
    {
        var registry = RequireRegistry();
        var version = VersionArgument(request);
        var rate = request.Arguments.TryGetPropertyValue("sampleRate", out var r) && r is JsonValue v && v.TryGetValue<double>(out var given) ? given : _options.Shadow.SampleRate;
        if (rate is <= 0 or > 1)
        {
            throw new InspectionInputException("sampleRate must be above 0 and at most 1");
        }

        await _model.StartShadowAsync(registry.Get(_options.Name!, version), rate).ConfigureAwait(false);
        return Status();
    }

    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        while (await Wait(timer, stop).ConfigureAwait(false))
        {
            await HeartbeatAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs the serving model's golden set between two batches and publishes pass or fail.</summary>
    private async Task<Heartbeat> HeartbeatAsync()
    {
        var serving = await _model.AcquireAsync().ConfigureAwait(false);
        Heartbeat beat;
        try
        {
            var registered = serving.Registered;
            if (registered is null || !registered.HasGoldenSet)
            {
                beat = new Heartbeat(serving.Name, serving.Version, null, ["the serving model has no golden set (models from a registry have one)"]);
            }
            else
            {
                var failures = GoldenCheck.Run(serving.Detector, GoldenSet.Load(registered.GoldenPath));
                beat = new Heartbeat(serving.Name, serving.Version, failures.Count == 0, failures);
            }
        }
        catch (InspectionInputException e)
        {
            beat = new Heartbeat(serving.Name, serving.Version, false, [e.Message]);
        }
        finally
        {
            _model.Release();
        }

        if (beat.Ok is { } ok)
        {
            _metrics.HeartbeatOk.Set(ok ? 1 : 0);
            _metrics.Heartbeats.WithLabels(ok ? "pass" : "fail").Inc();
            if (!ok)
            {
                _logger.LogError("Golden-set heartbeat failed for {Model} {Version}: {Failures}", beat.Model, beat.Version, string.Join("; ", beat.Failures));
            }
        }

        await Publish("heartbeat", beat).ConfigureAwait(false);
        return beat;
    }

    private JsonObject Status()
    {
        var serving = _model.Serving;
        var status = new JsonObject
        {
            ["serving"] = new JsonObject { ["name"] = serving.Name, ["version"] = serving.Version, ["provider"] = serving.Detector.Provider.ToString() },
        };
        if (_model.Registry is { } registry && registry.Pointer(_options.Name!) is { } pointer)
        {
            status["registry"] = new JsonObject { ["current"] = pointer.Version, ["previous"] = new JsonArray([.. pointer.Previous.Select(p => (JsonNode?)p)]), ["versions"] = new JsonArray([.. registry.Versions(_options.Name!).Select(v => (JsonNode?)v.Version)]) };
        }

        if (_model.Shadow is { } shadow)
        {
            status["shadow"] = new JsonObject { ["candidate"] = shadow.Candidate.Version, ["frames"] = shadow.Frames, ["verdictAgreement"] = Math.Round(shadow.VerdictAgreement, 4), ["detectionAgreement"] = Math.Round(shadow.DetectionAgreement, 4) };
        }

        return status;
    }

    private ModelRegistry RequireRegistry() => _model.Registry ?? throw new InspectionInputException("this worker serves a model file, not a registry; configure Inspection:Model:Registry and Name");

    private static int VersionArgument(CommandRequest request) =>
        request.Arguments.TryGetPropertyValue("version", out var node) && node is JsonValue value && value.TryGetValue<int>(out var version)
            ? version
            : throw new InspectionInputException("give the \"version\" (a number)");

    private async Task Publish<T>(string kind, T body) =>
        await _sinks.PublishAsync(SinkItem.ForEvent(new ServiceEvent(kind, JsonSerializer.SerializeToUtf8Bytes(body, JsonOptions)))).ConfigureAwait(false);

    private static async Task<bool> Wait(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>A heartbeat's outcome: Ok is null when there was nothing to check.</summary>
    public sealed record Heartbeat(string Model, string Version, bool? Ok, IReadOnlyList<string> Failures);
}

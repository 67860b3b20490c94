using Inspection.Core;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Inspection.Worker.Rules;

/// <summary>
/// The rules in force for every camera. Built from the configuration against the model's class names; rebuilt
/// when the configuration file changes (only the rules: a change with mistakes is refused and the old rules
/// stay) and when a threshold is changed by command. Readers take a snapshot per batch, so a change lands
/// between batches.
/// </summary>
public sealed class RuleBook : IDisposable
{
    private readonly ILogger<RuleBook> _logger;
    private readonly IDisposable _subscription;
    private readonly Lock _gate = new();
    private readonly Dictionary<(string? Camera, string? Class), double> _overrides = [];
    private RuleSources _sources;
    private IReadOnlyList<string> _classNames = [];
    private Snapshot _current = new(new Dictionary<string, CameraRules>(), DetectionThresholds.Default);

    public RuleBook(IOptions<InspectionOptions> options, IConfiguration configuration, ILogger<RuleBook> logger)
    {
        _logger = logger;
        _sources = RuleSources.Of(options.Value);
        _subscription = ChangeToken.OnChange(configuration.GetReloadToken, () => Reload(configuration));
    }

    /// <summary>Per camera rules and the detector thresholds that serve them all.</summary>
    public sealed record Snapshot(IReadOnlyDictionary<string, CameraRules> Cameras, DetectionThresholds Thresholds);

    public Snapshot Current => Volatile.Read(ref _current);

    /// <summary>Resolves the rules against a model's classes; throws <see cref="InspectionInputException"/> when a rule names a class the model lacks.</summary>
    public void UseModel(IReadOnlyList<string> classNames, IReadOnlyList<string> cameraIds)
    {
        lock (_gate)
        {
            _sources = _sources with { CameraIds = cameraIds };
            _current = Build(_sources, classNames);
            _classNames = classNames;
        }
    }

    /// <summary>Throws <see cref="InspectionInputException"/> when the rules name a class <paramref name="classNames"/> lacks (a swap's contract).</summary>
    public void Check(IReadOnlyList<string> classNames, IReadOnlyList<string> cameraIds)
    {
        lock (_gate)
        {
            Build(_sources with { CameraIds = cameraIds }, classNames);
        }
    }

    /// <summary>The classes the rules name (line and camera rules): every model must have them.</summary>
    public IReadOnlyList<string> ClassesNamed
    {
        get
        {
            lock (_gate)
            {
                return [.. Named(_sources)];
            }
        }
    }

    /// <summary>Throws <see cref="InspectionInputException"/> for the first of <paramref name="named"/> that <paramref name="classNames"/> lacks.</summary>
    public static void RequireClasses(IEnumerable<string> named, IReadOnlyList<string> classNames)
    {
        foreach (var name in named)
        {
            if (!classNames.Contains(name))
            {
                throw new InspectionInputException($"a rule names class '{name}', which the model does not have; its classes: {string.Join(", ", classNames)}.");
            }
        }
    }

    /// <summary>Sets a confidence threshold at run time (a command): for one class or all, on one camera or all.</summary>
    public Snapshot SetConfidence(string? camera, string? className, double confidence)
    {
        if (!(confidence is >= 0 and <= 1))
        {
            throw new InspectionInputException($"confidence {confidence} is outside 0..1");
        }

        lock (_gate)
        {
            if (camera is not null && !_current.Cameras.ContainsKey(camera))
            {
                throw new InspectionInputException($"camera '{camera}' is not configured; cameras: {string.Join(", ", _current.Cameras.Keys)}");
            }

            if (className is not null && !_classNames.Contains(className))
            {
                throw new InspectionInputException($"the model has no class '{className}'; its classes: {string.Join(", ", _classNames)}");
            }

            _overrides[(camera, className)] = confidence;
            _current = Build(_sources, _classNames);
            _logger.LogInformation("Confidence threshold set by command: {Value} for {Class} on {Camera}.", confidence, className ?? "all classes", camera ?? "all cameras");
            return _current;
        }
    }

    public void Dispose() => _subscription.Dispose();

    private void Reload(IConfiguration configuration)
    {
        var (options, problems) = WorkerConfiguration.Read(configuration);
        lock (_gate)
        {
            try
            {
                if (problems.Count > 0)
                {
                    throw new InspectionInputException(string.Join(" ", problems));
                }

                // Only the rules change at run time; cameras, model and MQTT keep what they started with.
                var sources = RuleSources.Of(options) with { CameraIds = _sources.CameraIds };
                _current = Build(sources, _classNames);
                _sources = sources;
                _logger.LogInformation("Rules reloaded from the configuration: default confidence {Confidence}, {Classes} class rule(s).", options.Rules.Confidence, options.Rules.Classes.Count);
            }
            catch (InspectionInputException e)
            {
                _logger.LogError("The changed configuration was not applied; the previous rules stay. {Problems}", e.Message);
            }
        }
    }

    private static IEnumerable<string> Named(RuleSources sources) => sources.Line.Classes.Keys.Concat(sources.Cameras.Values.SelectMany(c => c.Classes.Keys)).Distinct(StringComparer.Ordinal);

    private Snapshot Build(RuleSources sources, IReadOnlyList<string> classNames)
    {
        var line = sources.Line;
        RequireClasses(Named(sources), classNames);

        var cameras = new Dictionary<string, CameraRules>(StringComparer.Ordinal);
        foreach (var id in sources.CameraIds)
        {
            var own = sources.Cameras.GetValueOrDefault(id) ?? new CameraRulesOptions();
            var confidence = new float[classNames.Count];
            var defect = new bool[classNames.Count];
            for (var c = 0; c < classNames.Count; c++)
            {
                var name = classNames[c];
                var lineClass = line.Classes.GetValueOrDefault(name);
                var cameraClass = own.Classes.GetValueOrDefault(name);
                var value = cameraClass?.Confidence ?? own.Confidence ?? lineClass?.Confidence ?? line.Confidence;
                confidence[c] = (float)(Override(id, name) ?? value);
                defect[c] = (cameraClass ?? lineClass)?.Defect ?? true;
            }

            cameras[id] = new CameraRules
            {
                ClassNames = classNames,
                Confidence = confidence,
                Defect = defect,
                Regions = [.. own.Regions.Select(Polygon.Parse)],
                IgnoreMasks = [.. own.IgnoreMasks.Select(Polygon.Parse)],
                MinBoxWidth = own.MinBoxWidth ?? line.MinBoxWidth,
                MinBoxHeight = own.MinBoxHeight ?? line.MinBoxHeight,
                UncertainMargin = (float)line.UncertainMargin,
            };
        }

        var lowest = cameras.Count == 0 ? (float)line.Confidence : cameras.Values.Min(c => c.DetectorConfidence);
        return new Snapshot(cameras, new DetectionThresholds(lowest, (float)line.IoU, line.MaxDetections));
    }

    /// <summary>The most specific command override: camera and class, camera, class, then all.</summary>
    private double? Override(string camera, string className)
    {
        foreach (var key in new (string?, string?)[] { (camera, className), (camera, null), (null, className), (null, null) })
        {
            if (_overrides.TryGetValue(key, out var value))
            {
                return value;
            }
        }

        return null;
    }

    /// <summary>The parts of the configuration rules are made of.</summary>
    private sealed record RuleSources(RulesOptions Line, IReadOnlyDictionary<string, CameraRulesOptions> Cameras, IReadOnlyList<string> CameraIds)
    {
        public static RuleSources Of(InspectionOptions options) =>
            new(options.Rules, options.Cameras.GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.First().Rules), [.. options.Cameras.Select(c => c.Id)]);
    }
}

using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Worker.Configuration;
using Inspection.Worker.Rules;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Control;

/// <summary>The commands that read and change the rules: get-thresholds and set-thresholds. Registered before any transport takes requests.</summary>
public sealed class RuleCommands(RuleBook rules, CommandRouter commands, IOptions<InspectionOptions> options) : IHostedService
{
    private readonly ThresholdLimits _limits = options.Value.Rules.CommandLimits;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        commands.Register("get-thresholds", (request, _) => Task.FromResult<JsonNode?>(Thresholds(request.Camera)), steers: false);
        commands.Register("set-thresholds", SetThresholdsAsync, steers: true);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private Task<JsonNode?> SetThresholdsAsync(CommandRequest request, CancellationToken cancel)
    {
        if (!request.Arguments.TryGetPropertyValue("confidence", out var value) || value is not JsonValue number || !number.TryGetValue<double>(out var confidence))
        {
            throw new InspectionInputException("give \"confidence\" (a number 0..1) and optionally \"class\"");
        }

        if (confidence < _limits.MinConfidence || confidence > _limits.MaxConfidence)
        {
            throw new InspectionInputException($"confidence {confidence} is outside {_limits.MinConfidence}..{_limits.MaxConfidence}, the range commands may set (Inspection:Rules:CommandLimits)");
        }

        var className = request.Arguments.TryGetPropertyValue("class", out var c) && c is JsonValue text && text.TryGetValue<string>(out var name) ? name : null;
        rules.SetConfidence(request.Camera, className, confidence);
        return Task.FromResult<JsonNode?>(Thresholds(request.Camera));
    }

    /// <summary>{camera: {class: confidence}} for one camera or all.</summary>
    private JsonObject Thresholds(string? camera)
    {
        var result = new JsonObject();
        foreach (var (id, rules) in rules.Current.Cameras.Where(c => camera is null || c.Key == camera))
        {
            var classes = new JsonObject();
            for (var i = 0; i < rules.ClassNames.Count; i++)
            {
                classes[rules.ClassNames[i]] = Math.Round(rules.Confidence[i], 4);
            }

            result[id] = classes;
        }

        return result;
    }
}

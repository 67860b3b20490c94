using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Datasets;
using Inspection.Worker.Configuration;
using Inspection.Worker.Control;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Evidence;

/// <summary>
/// The review command: a person's decision on a kept frame, with the same effect as 'inspection dataset review'
/// (<see cref="EvidenceReview"/>), so the next retraining run uses it. Arguments: {"item": NAME, "action":
/// "accept" | "reject" | "relabel", "labels": ["class cx cy w h", ...] for relabel}. It steers (only operators),
/// and the screen and MQTT share it, audited alike.
/// </summary>
public sealed class EvidenceCommands(CommandRouter commands, IOptions<InspectionOptions> options) : IHostedService
{
    /// <summary>More would be a pasted file, not a person's boxes.</summary>
    public const int MaxLabels = 500;

    private readonly EvidenceOptions _evidence = options.Value.Evidence;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        commands.Register("review", Review, steers: true);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private Task<JsonNode?> Review(CommandRequest request, CancellationToken cancel)
    {
        if (!_evidence.Enabled)
        {
            throw new InspectionInputException("no evidence is kept here (Inspection:Evidence:Enabled is false): there is nothing to review");
        }

        var item = Text(request.Arguments, "item") ?? throw new InspectionInputException("give \"item\": the evidence item's name, as 'dataset review' lists it");
        var review = new EvidenceReview(_evidence.Directory);
        var status = Text(request.Arguments, "action") switch
        {
            "accept" => Run(() => review.Accept(item), "reviewed"),
            "reject" => Run(() => review.Reject(item), "rejected"),
            "relabel" => Run(() => review.Relabel(item, Labels(request.Arguments)), "reviewed"),
            _ => throw new InspectionInputException("give \"action\": accept, reject or relabel (with \"labels\": [\"class cx cy w h\", ...])"),
        };
        return Task.FromResult<JsonNode?>(new JsonObject { ["item"] = item, ["status"] = status });
    }

    private static string Run(Action decide, string status)
    {
        decide();
        return status;
    }

    private static List<string> Labels(JsonObject arguments)
    {
        if (!arguments.TryGetPropertyValue("labels", out var node) || node is not JsonArray labels || labels.Any(l => l is not JsonValue v || !v.TryGetValue<string>(out _)))
        {
            throw new InspectionInputException("relabel needs \"labels\": an array of \"class cx cy w h\" strings (fractions 0..1); an empty array says the picture shows no defect");
        }

        if (labels.Count > MaxLabels)
        {
            throw new InspectionInputException($"{labels.Count} labels given; at most {MaxLabels} are taken");
        }

        return [.. labels.Select(l => l!.GetValue<string>())];
    }

    private static string? Text(JsonObject arguments, string name) =>
        arguments.TryGetPropertyValue(name, out var value) && value is JsonValue text && text.TryGetValue<string>(out var s) ? s : null;
}

using System.Text.Json;
using Inspection.Core;
using Inspection.Training.Nn;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Inspection.Training.Engine;

/// <summary>
/// Our checkpoints: TorchSharp weights (name.weights) with a JSON description beside them (name.weights.json:
/// scale, class names, image size), so that val, export and fine-tuning know what they load.
/// </summary>
public static class Checkpoint
{
    public static void WriteDescription(string weights, RunState state) =>
        File.WriteAllText(weights + ".json", JsonSerializer.Serialize(new { state.Scale, state.Names, state.ImageSize, state.Epoch }));

    public static (ModelScale Scale, List<string> Names, int ImageSize) ReadDescription(string weights)
    {
        if (!File.Exists(weights))
        {
            throw new InspectionInputException($"Checkpoint '{weights}' does not exist.");
        }

        var description = weights + ".json";
        if (!File.Exists(description))
        {
            throw new InspectionInputException($"Checkpoint '{weights}' has no description beside it ({Path.GetFileName(description)}); give a .weights file written by 'inspection train'.");
        }

        using var json = JsonDocument.Parse(File.ReadAllText(description));
        var root = json.RootElement;
        return (ModelScale.Parse(root.GetProperty("Scale").GetString()!), root.GetProperty("Names").EnumerateArray().Select(n => n.GetString()!).ToList(), root.GetProperty("ImageSize").GetInt32());
    }

    /// <summary>Loads a checkpoint into a model and its weights where names and shapes agree: a new class count keeps all but the class head.</summary>
    public static void LoadMatching(DetectionModel model, string weights, ILogger logger)
    {
        var (scale, names, _) = ReadDescription(weights);
        if (scale != model.Scale)
        {
            throw new InspectionInputException($"Checkpoint '{weights}' is a YOLOv8{scale.Name}; this run trains a YOLOv8{model.Scale.Name}.");
        }

        using var source = new DetectionModel(scale, names);
        source.load(weights);
        var target = model.state_dict();
        var copied = 0;
        var skipped = new List<string>();
        using (no_grad())
        {
            foreach (var (name, tensor) in source.state_dict())
            {
                if (target.TryGetValue(name, out var destination) && destination.shape.SequenceEqual(tensor.shape))
                {
                    destination.copy_(tensor);
                    copied++;
                }
                else
                {
                    skipped.Add(name);
                }
            }
        }

        logger.LogInformation("Started from {Weights}: {Copied} tensors taken, {Skipped} left to their initial values ({Names}).", weights, copied, skipped.Count, string.Join(", ", skipped.Take(6)));
    }
}

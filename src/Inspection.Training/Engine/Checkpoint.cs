using System.Text.Json;
using Inspection.Core;
using Inspection.Training.Nn;
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
}

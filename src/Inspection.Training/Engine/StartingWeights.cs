using Inspection.Core;
using Inspection.Training.Nn;
using Inspection.Training.Nn.Modules;
using Inspection.Training.Utils.Checkpoints;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Inspection.Training.Engine;

/// <summary>
/// What a run starts from: an Ultralytics .pt (COCO-pretrained yolov8n.pt, ...) or a .weights of ours. Like
/// Ultralytics' intersect_dicts, every tensor whose name and shape agree is transferred; the rest (a class head of
/// another class count) keeps its initial values.
/// </summary>
public static class StartingWeights
{
    public static bool IsUltralytics(string path) => path.EndsWith(".pt", StringComparison.OrdinalIgnoreCase);

    /// <summary>The scale the weights were built at: a run from weights takes it from them, as <c>yolo train model=yolov8s.pt</c> does.</summary>
    public static ModelScale ScaleOf(string path) => IsUltralytics(path) ? ScaleOf(path, UltralyticsCheckpoint.Read(path)) : Checkpoint.ReadDescription(path).Scale;

    /// <summary>Copies the matching tensors into <paramref name="model"/> and reports "Transferred N/M items".</summary>
    public static Transfer Apply(DetectionModel model, string path, ILogger logger)
    {
        var transfer = IsUltralytics(path) ? FromUltralytics(model, path) : FromOurs(model, path);
        logger.LogInformation(
            "Transferred {Copied}/{Total} items from {Weights}{Fresh}",
            transfer.Copied,
            transfer.Total,
            path,
            transfer.Fresh.Count == 0 ? "." : $"; starting fresh: {string.Join(", ", transfer.Fresh.Take(3))}{(transfer.Fresh.Count > 3 ? $" and {transfer.Fresh.Count - 3} more" : "")}.");
        return transfer;
    }

    /// <summary>The state dict as PyTorch names it: TorchSharp also lists some submodules under their field names (model.0._bn.weight).</summary>
    public static IReadOnlyDictionary<string, Tensor> StateDict(DetectionModel model) =>
        model.state_dict().Where(entry => !entry.Key.Split('.').Any(part => part.StartsWith('_'))).ToDictionary();

    private static Transfer FromUltralytics(DetectionModel model, string path)
    {
        var checkpoint = UltralyticsCheckpoint.Read(path);
        var scale = ScaleOf(path, checkpoint);
        if (scale != model.Scale)
        {
            throw new InspectionInputException($"'{path}' is a YOLOv8{scale.Name}; this run builds a YOLOv8{model.Scale.Name}. Leave out --model to take the checkpoint's scale.");
        }

        RequireFit(model, path, checkpoint);
        var transfer = Copy(model, checkpoint.StateDict.Select(entry => (entry.Name, entry.Shape, (Func<Tensor>)(() =>
            entry.Floats is { } floats ? tensor(floats, entry.Shape) : tensor(entry.Integers!, entry.Shape)))));

        // The modules' own BatchNorm settings travel with their weights (Ultralytics': eps 0.001, momentum 0.03).
        var norms = model.named_modules().Where(entry => entry.module is BatchNorm2d).ToDictionary(entry => entry.name, entry => (BatchNorm2d)entry.module);
        foreach (var (name, settings) in checkpoint.BatchNorms)
        {
            if (norms.TryGetValue(name, out var norm))
            {
                norm.Eps = settings.Eps;
                norm.Momentum = settings.Momentum ?? norm.Momentum;
            }
        }

        return transfer;
    }

    private static Transfer FromOurs(DetectionModel model, string path)
    {
        var (scale, names, _) = Checkpoint.ReadDescription(path);
        if (scale != model.Scale)
        {
            throw new InspectionInputException($"Checkpoint '{path}' is a YOLOv8{scale.Name}; this run builds a YOLOv8{model.Scale.Name}. Leave out --model to take the checkpoint's scale.");
        }

        using var source = new DetectionModel(scale, names);
        source.load(path);
        return Copy(model, StateDict(source).Select(entry => (entry.Key, entry.Value.shape, (Func<Tensor>)(() => entry.Value))));
    }

    /// <summary>intersect_dicts then load_state_dict(strict=False): same name and shape, or the model's own value stays.</summary>
    private static Transfer Copy(DetectionModel model, IEnumerable<(string Name, long[] Shape, Func<Tensor> Values)> source)
    {
        var target = StateDict(model);
        var copied = new HashSet<string>();
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        foreach (var (name, shape, values) in source)
        {
            if (target.TryGetValue(name, out var destination) && destination.shape.SequenceEqual(shape))
            {
                destination.copy_(values());
                copied.Add(name);
            }
        }

        return new Transfer(copied.Count, target.Count, [.. target.Keys.Where(name => !copied.Contains(name))]);
    }

    /// <summary>n and s differ in width only: the first convolution's output channels tell them apart.</summary>
    private static ModelScale ScaleOf(string path, UltralyticsCheckpoint checkpoint)
    {
        var first = checkpoint.StateDict.FirstOrDefault(tensor => tensor.Name == "model.0.conv.weight")
            ?? throw new InspectionInputException($"'{path}' has no model.0.conv.weight, so it is not a YOLOv8 detector.");
        var scale = new[] { ModelScale.N, ModelScale.S }.FirstOrDefault(candidate => candidate.Channels(64) == first.Shape[0]);
        return scale ?? throw new InspectionInputException(
            $"'{path}' is a detector whose first layer has {first.Shape[0]} channels; Inspection trains YOLOv8n and YOLOv8s (16 or 32): give yolov8n.pt or yolov8s.pt.");
    }

    /// <summary>
    /// Only the class branch may differ (it depends on the class count): a backbone or neck tensor missing or of
    /// another shape means another architecture, which a silent partial transfer would hide.
    /// </summary>
    private static void RequireFit(DetectionModel model, string path, UltralyticsCheckpoint checkpoint)
    {
        const string classBranch = "model.22.cv3.";
        var ours = StateDict(model);
        var theirs = checkpoint.StateDict.ToDictionary(tensor => tensor.Name, tensor => tensor.Shape);
        var misfits = ours.Keys.Union(theirs.Keys)
            .Where(name => !name.StartsWith(classBranch, StringComparison.Ordinal))
            .Select(name => (name, ours: ours.TryGetValue(name, out var tensor) ? Shape(tensor.shape) : "missing", theirs: theirs.TryGetValue(name, out var shape) ? Shape(shape) : "missing"))
            .Where(entry => entry.ours != entry.theirs)
            .ToList();
        if (misfits.Count > 0)
        {
            var (name, here, there) = misfits[0];
            throw new InspectionInputException(
                $"'{path}' does not fit a YOLOv8{model.Scale.Name}: {name} is {there} in it and {here} here{(misfits.Count > 1 ? $" ({misfits.Count - 1} more differ)" : "")}; give an unmodified Ultralytics yolov8{model.Scale.Name}.pt.");
        }

        static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
    }
}

/// <summary>What a start from weights took: <see cref="Copied"/> of the model's <see cref="Total"/> tensors, and the names left fresh.</summary>
public sealed record Transfer(int Copied, int Total, IReadOnlyList<string> Fresh);

using System.Collections;
using System.Globalization;
using System.IO.Compression;
using Inspection.Core;
using Razorvine.Pickle;
using Razorvine.Pickle.Objects;

namespace Inspection.Training.Utils.Checkpoints;

public enum CheckpointTensorKind
{
    Parameter,
    Buffer,
}

/// <summary>
/// One state-dict entry: floating tensors (float16, bfloat16, float32, float64) are read as float32 into
/// <see cref="Floats"/>, integer ones (num_batches_tracked) as int64 into <see cref="Integers"/>.
/// <see cref="DType"/> is what the file stores.
/// </summary>
public sealed record CheckpointTensor(string Name, CheckpointTensorKind Kind, string DType, long[] Shape, float[]? Floats, long[]? Integers)
{
    public bool IsFloating => Floats is not null;

    public long ElementCount => Shape.Aggregate(1L, (count, size) => count * size);
}

/// <summary>A pickled BatchNorm2d's settings; momentum is null when the module averages cumulatively.</summary>
public sealed record BatchNormSettings(double Eps, double? Momentum);

/// <summary>
/// An Ultralytics .pt read without Python (nn/tasks.py torch_safe_load and attempt_load_weights): the model's state
/// dict in PyTorch's order and names, its class names, and the BatchNorm settings its modules were built with.
/// </summary>
public sealed record UltralyticsCheckpoint(
    string ModelClass,
    IReadOnlyList<CheckpointTensor> StateDict,
    IReadOnlyList<string> Names,
    int? ClassCount,
    string? Version,
    string? Date,
    IReadOnlyDictionary<string, BatchNormSettings> BatchNorms)
{
    private const string DetectionModelClass = "ultralytics.nn.tasks.DetectionModel";

    /// <summary>The parameter count Ultralytics reports: every tensor in the modules' _parameters.</summary>
    public long ParameterCount => StateDict.Where(tensor => tensor.Kind == CheckpointTensorKind.Parameter).Sum(tensor => tensor.ElementCount);

    public static UltralyticsCheckpoint Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"Checkpoint '{path}' does not exist; give the path of an Ultralytics .pt file.");
        }

        try
        {
            using var zip = ZipFile.OpenRead(path);
            return Read(path, zip);
        }
        catch (InvalidDataException error) when (StartsLikeZip(path))
        {
            throw new InspectionInputException($"Checkpoint '{path}' is a truncated or damaged zip ({error.Message.TrimEnd('.')}); download or copy it again.");
        }
        catch (InvalidDataException)
        {
            throw new InspectionInputException(
                $"Checkpoint '{path}' is not a zip, so not a PyTorch checkpoint (torch.save writes a zip since PyTorch 1.6); give an Ultralytics .pt, or re-save this one with torch.save.");
        }
    }

    private static UltralyticsCheckpoint Read(string path, ZipArchive zip)
    {
        var pickleEntry = zip.Entries.FirstOrDefault(entry => entry.FullName == "data.pkl" || entry.FullName.EndsWith("/data.pkl", StringComparison.Ordinal))
            ?? throw new InspectionInputException($"Checkpoint '{path}' is a zip without data.pkl, so not written by torch.save; give an Ultralytics .pt file.");
        var prefix = pickleEntry.FullName[..^"data.pkl".Length];
        if (zip.GetEntry(prefix + "byteorder") is { } byteOrder && ReadText(byteOrder) != "little")
        {
            throw new InspectionInputException($"Checkpoint '{path}' was saved on a big-endian machine; re-save it on a little-endian one.");
        }

        var pickle = ReadBytes(pickleEntry);
        List<string> globals;
        try
        {
            globals = PickleGlobals.Scan(pickle);
        }
        catch (InvalidDataException error)
        {
            throw new InspectionInputException($"Checkpoint '{path}' has a data.pkl this reader cannot follow: {error.Message}.");
        }

        if (globals.FirstOrDefault(global => !TorchUnpickler.IsAllowed(global)) is { } forbidden)
        {
            throw new InspectionInputException(
                $"Checkpoint '{path}' refers to the Python global '{forbidden}', which no model checkpoint needs; it was not loaded. Use a checkpoint from a source you trust.");
        }

        object content;
        try
        {
            using var unpickler = new TorchUnpickler(zip, prefix);
            content = unpickler.loads(pickle);
        }
        catch (Exception error) when (error is PickleException or InvalidCastException or InvalidDataException)
        {
            throw new InspectionInputException($"Checkpoint '{path}' cannot be unpickled: {error.Message.TrimEnd('.')}; download or copy it again.");
        }

        return FromContent(path, content);
    }

    private static UltralyticsCheckpoint FromContent(string path, object content)
    {
        if (content is not Hashtable checkpoint)
        {
            var what = content is PickledTensor ? "a plain tensor" : $"a {content?.GetType().Name ?? "None"}";
            throw new InspectionInputException($"Checkpoint '{path}' holds {what}, not an Ultralytics checkpoint (a dict with 'model'); give a .pt saved by Ultralytics.");
        }

        // attempt_load_weights: the EMA model when the checkpoint has one, else the model.
        if ((checkpoint["ema"] ?? checkpoint["model"]) is not ClassDict model)
        {
            var keys = string.Join(", ", checkpoint.Keys.Cast<object>().Select(key => $"'{key}'").Order(StringComparer.Ordinal));
            throw new InspectionInputException(
                $"Checkpoint '{path}' is a dict without a 'model' module (keys {keys}), so not an Ultralytics detection checkpoint; give a .pt saved by Ultralytics.");
        }

        if (model.ClassName != DetectionModelClass)
        {
            throw new InspectionInputException($"Checkpoint '{path}' holds the model class '{model.ClassName}', not '{DetectionModelClass}'; give a detection checkpoint (yolov8n.pt, ...).");
        }

        var found = new List<(CheckpointTensor Tensor, int StorageKey)>();
        var batchNorms = new Dictionary<string, BatchNormSettings>();
        Collect(model, "", found, batchNorms);

        // torch.save numbers storages as it meets them, and it meets them in state-dict order (each module's
        // _parameters, then _buffers, then _modules); Razorvine's dicts are unordered, so the keys give the order back.
        var stateDict = found.OrderBy(entry => entry.StorageKey).Select(entry => entry.Tensor).ToList();
        return new UltralyticsCheckpoint(
            model.ClassName,
            stateDict,
            ClassNames(model.GetValueOrDefault("names")),
            (model.GetValueOrDefault("yaml") as Hashtable)?["nc"] is { } nc ? Convert.ToInt32(nc, CultureInfo.InvariantCulture) : null,
            checkpoint["version"] as string,
            checkpoint["date"] as string,
            batchNorms);
    }

    /// <summary>Module.state_dict: own parameters, then persistent buffers, then each child under "name.".</summary>
    private static void Collect(ClassDict module, string prefix, List<(CheckpointTensor, int)> found, Dictionary<string, BatchNormSettings> batchNorms)
    {
        if (module.ClassName.EndsWith(".BatchNorm2d", StringComparison.Ordinal))
        {
            batchNorms[prefix.TrimEnd('.')] = new BatchNormSettings(
                Convert.ToDouble(module["eps"], CultureInfo.InvariantCulture),
                module["momentum"] is { } momentum ? Convert.ToDouble(momentum, CultureInfo.InvariantCulture) : null);
        }

        var nonPersistent = module.GetValueOrDefault("_non_persistent_buffers_set") as IEnumerable;
        var skipped = nonPersistent?.Cast<object>().Select(name => (string)name).ToHashSet() ?? [];
        foreach (var (dictionary, kind) in new[] { ("_parameters", CheckpointTensorKind.Parameter), ("_buffers", CheckpointTensorKind.Buffer) })
        {
            if (module.GetValueOrDefault(dictionary) is not Hashtable tensors)
            {
                continue;
            }

            foreach (DictionaryEntry entry in tensors)
            {
                var name = (string)entry.Key;
                if (entry.Value is PickledTensor tensor && !skipped.Contains(name))
                {
                    found.Add((Materialise(prefix + name, kind, tensor), tensor.Storage.Key));
                }
            }
        }

        if (module.GetValueOrDefault("_modules") is Hashtable children)
        {
            foreach (DictionaryEntry child in children)
            {
                if (child.Value is ClassDict childModule)
                {
                    Collect(childModule, prefix + (string)child.Key + ".", found, batchNorms);
                }
            }
        }
    }

    /// <summary>Copies the tensor's view of its storage out element by element, in row-major order of its shape.</summary>
    private static CheckpointTensor Materialise(string name, CheckpointTensorKind kind, PickledTensor tensor)
    {
        var type = tensor.Storage.Type;
        var count = checked((int)tensor.Shape.Aggregate(1L, (product, size) => product * size));
        var floats = type.Floating ? new float[count] : null;
        var integers = type.Floating ? null : new long[count];
        var index = new long[tensor.Shape.Length];
        for (var i = 0; i < count; i++)
        {
            var offset = tensor.Offset;
            for (var axis = 0; axis < index.Length; axis++)
            {
                offset += index[axis] * tensor.Stride[axis];
            }

            var element = tensor.Storage.Bytes.AsSpan(checked((int)(offset * type.ElementSize)), type.ElementSize);
            if (floats is not null)
            {
                floats[i] = type.ReadFloat(element);
            }
            else
            {
                integers![i] = type.ReadInteger(element);
            }

            for (var axis = index.Length - 1; axis >= 0 && ++index[axis] == tensor.Shape[axis]; axis--)
            {
                index[axis] = 0;
            }
        }

        return new CheckpointTensor(name, kind, type.DType, tensor.Shape, floats, integers);
    }

    /// <summary>model.names: a dict {index: name} (a list in older checkpoints), read in index order.</summary>
    private static List<string> ClassNames(object? names) => names switch
    {
        Hashtable byIndex => [.. byIndex.Cast<DictionaryEntry>().OrderBy(entry => Convert.ToInt64(entry.Key, CultureInfo.InvariantCulture)).Select(entry => (string)entry.Value!)],
        IList list => [.. list.Cast<string>()],
        _ => [],
    };

    private static bool StartsLikeZip(string path)
    {
        Span<byte> magic = stackalloc byte[2];
        using var file = File.OpenRead(path);
        return file.Read(magic) == 2 && magic[0] == 'P' && magic[1] == 'K';
    }

    private static byte[] ReadBytes(ZipArchiveEntry entry)
    {
        var bytes = new byte[entry.Length];
        using var stream = entry.Open();
        stream.ReadExactly(bytes);
        return bytes;
    }

    private static string ReadText(ZipArchiveEntry entry) => System.Text.Encoding.ASCII.GetString(ReadBytes(entry)).Trim();
}

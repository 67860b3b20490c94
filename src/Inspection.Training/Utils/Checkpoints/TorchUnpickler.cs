using System.Buffers.Binary;
using System.Collections;
using System.IO.Compression;
using Razorvine.Pickle;

namespace Inspection.Training.Utils.Checkpoints;

/// <summary>A tensor as torch's _rebuild_tensor_v2 describes it: a view (offset, shape, stride) of a storage.</summary>
internal sealed record PickledTensor(TensorStorage Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>One storage of the zip (data/&lt;key&gt;), with the element type its torch.*Storage class names.</summary>
internal sealed record TensorStorage(int Key, StorageType Type, byte[] Bytes);

/// <summary>A torch.*Storage class: the element type and how to read one element as float32 or int64.</summary>
internal sealed class StorageType(string dtype, int elementSize, bool floating) : IObjectConstructor
{
    public string DType { get; } = dtype;
    public int ElementSize { get; } = elementSize;
    public bool Floating { get; } = floating;

    public object construct(object[] args) => throw new PickleException($"torch.{DType} storages are not constructed by the pickle");

    public float ReadFloat(ReadOnlySpan<byte> element) => DType switch
    {
        "float16" => (float)BinaryPrimitives.ReadHalfLittleEndian(element),
        "bfloat16" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(element) << 16),
        "float32" => BinaryPrimitives.ReadSingleLittleEndian(element),
        _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(element),
    };

    public long ReadInteger(ReadOnlySpan<byte> element) => DType switch
    {
        "int64" => BinaryPrimitives.ReadInt64LittleEndian(element),
        "int32" => BinaryPrimitives.ReadInt32LittleEndian(element),
        _ => element[0],
    };
}

/// <summary>
/// Unpickles a torch.save zip's data.pkl with only the globals a checkpoint needs: tensors, storages, OrderedDict,
/// and nn.Module classes, which become Razorvine ClassDicts holding their __dict__ (_parameters, _buffers, _modules,
/// eps, ...). No Python runs here; anything else a pickle names is refused before unpickling.
/// </summary>
internal sealed class TorchUnpickler(ZipArchive zip, string prefix) : Unpickler
{
    private static readonly Dictionary<string, StorageType> StorageTypes = new()
    {
        ["torch.HalfStorage"] = new("float16", 2, floating: true),
        ["torch.BFloat16Storage"] = new("bfloat16", 2, floating: true),
        ["torch.FloatStorage"] = new("float32", 4, floating: true),
        ["torch.DoubleStorage"] = new("float64", 8, floating: true),
        ["torch.LongStorage"] = new("int64", 8, floating: false),
        ["torch.IntStorage"] = new("int32", 4, floating: false),
        ["torch.ByteStorage"] = new("uint8", 1, floating: false),
        ["torch.BoolStorage"] = new("bool", 1, floating: false),
    };

    /// <summary>Globals with a constructor here (or Razorvine's own, for set); the rest of the allowed ones are module classes.</summary>
    private static readonly HashSet<string> ConstructedGlobals =
    [
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "torch.Size", "collections.OrderedDict",
        "__builtin__.set", "builtins.set", .. StorageTypes.Keys,
    ];

    private readonly Dictionary<int, TensorStorage> _storages = [];

    static TorchUnpickler()
    {
        // Razorvine's constructor table is process-wide; these are the same for every checkpoint.
        registerConstructor("torch._utils", "_rebuild_tensor_v2", new Construct(RebuildTensor));
        registerConstructor("torch._utils", "_rebuild_parameter", new Construct(args => args[0]));
        registerConstructor("torch", "Size", new Construct(args => Longs(args[0])));
        registerConstructor("collections", "OrderedDict", new Construct(_ => new Hashtable()));
        foreach (var (global, type) in StorageTypes)
        {
            registerConstructor("torch", global["torch.".Length..], type);
        }
    }

    /// <summary>True for a global a checkpoint may name: ours above, or a torch.nn / Ultralytics class kept as a plain holder.</summary>
    public static bool IsAllowed(string global) =>
        ConstructedGlobals.Contains(global)
        || (global.StartsWith("torch.nn.modules.", StringComparison.Ordinal) && IsClassName(global))
        || (global.StartsWith("ultralytics.", StringComparison.Ordinal) && IsClassName(global));

    private static bool IsClassName(string global) => char.IsUpper(global[(global.LastIndexOf('.') + 1)..][0]);

    /// <summary>torch.save's persistent id: ('storage', storage class, key, location, element count).</summary>
    protected override object persistentLoad(object pid)
    {
        if (pid is not object[] { Length: 5 } id || id[0] is not "storage" || id[1] is not StorageType type
            || id[2] is not string key || !int.TryParse(key, out var number))
        {
            throw new PickleException($"unexpected persistent id {pid}");
        }

        if (_storages.TryGetValue(number, out var known))
        {
            return known;
        }

        var entry = zip.GetEntry($"{prefix}data/{key}") ?? throw new PickleException($"storage data/{key} is missing from the zip");
        var bytes = new byte[entry.Length];
        using (var stream = entry.Open())
        {
            stream.ReadExactly(bytes);
        }

        var elements = Convert.ToInt64(id[4], System.Globalization.CultureInfo.InvariantCulture);
        if (bytes.Length != elements * type.ElementSize)
        {
            throw new PickleException($"storage data/{key} holds {bytes.Length} bytes, not {elements} {type.DType} elements");
        }

        return _storages[number] = new TensorStorage(number, type, bytes);
    }

    /// <summary>_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).</summary>
    private static PickledTensor RebuildTensor(object[] args) =>
        new((TensorStorage)args[0], Convert.ToInt64(args[1], System.Globalization.CultureInfo.InvariantCulture), Longs(args[2]), Longs(args[3]));

    private static long[] Longs(object tuple) =>
        [.. ((object[])tuple).Select(value => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture))];

    private sealed class Construct(Func<object[], object> build) : IObjectConstructor
    {
        public object construct(object[] args) => build(args);
    }
}

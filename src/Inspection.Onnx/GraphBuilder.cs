using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.Onnx;

/// <summary>
/// Appends nodes, constants, inputs and outputs to an ONNX graph. It knows where operators changed
/// between opsets (axes moved from attributes to inputs), so callers write one graph for every opset.
/// </summary>
public sealed class GraphBuilder
{
    private readonly GraphProto _graph;
    private readonly string _prefix;
    private int _counter;

    public GraphBuilder(GraphProto graph, long opset, string prefix = "")
    {
        _graph = graph;
        Opset = opset;
        _prefix = prefix;
    }

    /// <summary>The default-domain opset the graph's model imports; operators are emitted in its form.</summary>
    public long Opset { get; }

    public GraphProto Graph => _graph;

    /// <summary>Adds one node with a single output and returns that output's name.</summary>
    public string Op(string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        Op(opType, inputs, 1, attributes)[0];

    public string Op(string opType, params string[] inputs) => Op(opType, inputs, 1)[0];

    /// <summary>Adds one node with <paramref name="outputCount"/> outputs and returns their names.</summary>
    public string[] Op(string opType, string[] inputs, int outputCount, params (string Name, object Value)[] attributes)
    {
        var name = NewName(opType);
        var node = new NodeProto { Name = name, OpType = opType };
        node.Input.AddRange(inputs);
        var outputs = outputCount == 1 ? [name] : Enumerable.Range(0, outputCount).Select(i => $"{name}_{i}").ToArray();
        node.Output.AddRange(outputs);
        foreach (var (attributeName, value) in attributes)
        {
            node.Attribute.Add(Attribute(attributeName, value));
        }

        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>Adds a node whose output name is chosen by the caller (for graph outputs).</summary>
    public void OpNamed(string output, string opType, string[] inputs, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { Name = NewName(opType), OpType = opType };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (attributeName, value) in attributes)
        {
            node.Attribute.Add(Attribute(attributeName, value));
        }

        _graph.Node.Add(node);
    }

    public string Constant(float[] values, params long[] dims) => AddInitializer(FloatTensor(NewName("const"), values, dims));

    public string Constant(long[] values, params long[] dims) => AddInitializer(Int64Tensor(NewName("const"), values, dims));

    /// <summary>A zero-dimensional int64 tensor (what Range and Gather-as-index expect).</summary>
    public string Scalar(long value) => Constant([value]);

    public string Scalar(float value) => Constant([value]);

    public string ReduceSum(string x, long[] axes, bool keepDims) => Reduce("ReduceSum", x, axes, keepDims, axesAsInputSince: 13);

    public string ReduceMax(string x, long[] axes, bool keepDims) => Reduce("ReduceMax", x, axes, keepDims, axesAsInputSince: 18);

    public string Unsqueeze(string x, params long[] axes) =>
        Opset >= 13 ? Op("Unsqueeze", x, Constant(axes, axes.Length)) : Op("Unsqueeze", [x], ("axes", axes));

    /// <summary>Elements [start, end) of <paramref name="x"/> along one axis.</summary>
    public string Slice(string x, long start, long end, long axis) =>
        Op("Slice", x, Constant([start], 1), Constant([end], 1), Constant([axis], 1));

    public string Cast(string x, DataType to) => Op("Cast", [x], ("to", (long)to));

    public void AddInput(string name, DataType type, params object[] dims) => _graph.Input.Add(ValueInfo(name, type, dims));

    public void AddOutput(string name, DataType type, params object[] dims) => _graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>A tensor value description; each dimension is a number (fixed) or a name (symbolic, dynamic).</summary>
    public static ValueInfoProto ValueInfo(string name, DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                _ => new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(dim, System.Globalization.CultureInfo.InvariantCulture) },
            });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    public static TensorProto FloatTensor(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        return tensor;
    }

    public static TensorProto Int64Tensor(string name, ReadOnlySpan<long> values, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        return tensor;
    }

    public string AddInitializer(TensorProto tensor)
    {
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    private string Reduce(string opType, string x, long[] axes, bool keepDims, int axesAsInputSince) =>
        Opset >= axesAsInputSince
            ? Op(opType, [x, Constant(axes, axes.Length)], ("keepdims", keepDims ? 1L : 0L))
            : Op(opType, [x], ("axes", axes), ("keepdims", keepDims ? 1L : 0L));

    private string NewName(string kind) => $"{_prefix}{kind}_{_counter++}";

    private static AttributeProto Attribute(string name, object value)
    {
        var attribute = new AttributeProto { Name = name };
        switch (value)
        {
            case long or int:
                attribute.Type = AttributeProto.Types.AttributeType.Int;
                attribute.I = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
                break;
            case float f:
                attribute.Type = AttributeProto.Types.AttributeType.Float;
                attribute.F = f;
                break;
            case string s:
                attribute.Type = AttributeProto.Types.AttributeType.String;
                attribute.S = ByteString.CopyFromUtf8(s);
                break;
            case long[] ints:
                attribute.Type = AttributeProto.Types.AttributeType.Ints;
                attribute.Ints.AddRange(ints);
                break;
            case TensorProto tensor:
                attribute.Type = AttributeProto.Types.AttributeType.Tensor;
                attribute.T = tensor;
                break;
            default:
                throw new ArgumentException($"Attribute '{name}' has unsupported type {value.GetType().Name}.", nameof(value));
        }

        return attribute;
    }
}

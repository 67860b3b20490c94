using Inspection.Onnx;
using Onnx;

namespace Inspection.Inference;

/// <summary>
/// Rewrites a Softmax over an inner axis as the reductions it stands for: max, exp of the difference, sum, divide.
/// ONNX Runtime's CPU kernel only computes a Softmax along the last axis, so for any other it transposes the tensor
/// there and back. YOLOv8's DFL head is such a Softmax (over the 16 bins on axis 1 of [B, 16, 4, A]): 4 of the
/// float YOLOv8n's 38 ms at 640 on a 2-core CPU, against well under 1 ms for the reductions (docs/benchmarks.md).
/// The result is the same function (outputs agree to float rounding), so it is applied for every provider.
/// </summary>
public static class SoftmaxRewrite
{
    /// <summary>From this opset on, Softmax normalises along one axis; before it, over every axis from there on.</summary>
    private const long SingleAxisSince = 13;

    /// <summary>Rewrites each inner-axis Softmax of the main graph whose input's rank it knows; returns how many.</summary>
    public static int Apply(ModelProto model, long opset)
    {
        if (opset < SingleAxisSince)
        {
            return 0;
        }

        var graph = model.Graph;
        var rewritten = 0;
        for (var index = 0; index < graph.Node.Count; index++)
        {
            var softmax = graph.Node[index];
            if (softmax.OpType != "Softmax" || softmax.Domain is not ("" or "ai.onnx"))
            {
                continue;
            }

            var axis = softmax.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? -1;
            if (Rank(graph, softmax.Input[0]) is not { } rank || axis < 0 || axis >= rank - 1)
            {
                continue;
            }

            // The node's position names it when it has no name: the new nodes' outputs are named after the prefix.
            var g = new GraphBuilder(new GraphProto(), opset, $"{(softmax.Name.Length > 0 ? softmax.Name : $"softmax_{index}")}/rewritten/");
            var x = softmax.Input[0];
            var exp = g.Op("Exp", g.Op("Sub", x, g.ReduceMax(x, [axis], keepDims: true))); // less the max: exp never overflows
            g.OpNamed(softmax.Output[0], "Div", [exp, g.ReduceSum(exp, [axis], keepDims: true)]);

            graph.Node.RemoveAt(index);
            for (var i = 0; i < g.Graph.Node.Count; i++)
            {
                graph.Node.Insert(index + i, g.Graph.Node[i]);
            }

            graph.Initializer.Add(g.Graph.Initializer);
            index += g.Graph.Node.Count - 1;
            rewritten++;
        }

        return rewritten;
    }

    /// <summary>The rank of a value made by a Transpose (as the DFL's is, in Ultralytics' exports and ours), else unknown.</summary>
    private static int? Rank(GraphProto graph, string value) =>
        graph.Node.FirstOrDefault(n => n.Output.Contains(value)) is { OpType: "Transpose" } producer
            && producer.Attribute.FirstOrDefault(a => a.Name == "perm") is { } perm
            ? perm.Ints.Count
            : null;
}

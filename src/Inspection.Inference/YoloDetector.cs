using System.Security.Cryptography;
using Google.Protobuf;
using Inspection.Core;
using Inspection.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Inspection.Inference;

/// <summary>
/// Runs any Ultralytics YOLO detection model: letterboxed batches in, detections in source pixels out, with NMS
/// inside the graph. Thread-safe: concurrent callers each take their own pooled buffers.
/// </summary>
public sealed class YoloDetector : IDetector
{
    private readonly InferenceSession _session;
    private readonly YoloModelDescription _description;
    private readonly HostMemory _host;
    private readonly BatchBufferPool _pool;
    private readonly int _maxBatch;

    private YoloDetector(InferenceSession session, YoloModelDescription description, ExecutionProvider provider, EngineGraph graph, HostMemory host, int maxBatch, int concurrentBatches)
    {
        _maxBatch = maxBatch;
        ConcurrentBatches = concurrentBatches;
        _session = session;
        _description = description;
        Provider = provider;
        Nms = graph.Nms;
        Preprocess = graph.Preprocess;
        _host = host;
        _pool = new BatchBufferPool(session, description, graph, host.Allocator);
    }

    public ModelInfo Model => _description.Info;

    public ExecutionProvider Provider { get; }

    /// <summary>How many batches it is meant to run at once (<see cref="DetectorOptions.ConcurrentBatches"/> on its provider).</summary>
    public int ConcurrentBatches { get; }

    public NmsPlacement Nms { get; }

    public PreprocessPlacement Preprocess { get; }

    /// <summary>Images per session call: the model's fixed batch, or as many as the caller passes when it is dynamic.</summary>
    public int? FixedBatch => _description.Info.FixedBatch;

    public static YoloDetector Open(DetectorOptions options, ILoggerFactory? loggers = null)
    {
        var logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger<YoloDetector>();
        var proto = OnnxModelFile.Load(options.ModelPath);
        var description = YoloModelReader.Describe(proto, options.ModelPath, options.ImageSize);
        var nms = options.Nms;
        if (nms == NmsPlacement.InGraph && !NmsGraft.CanGraft(description))
        {
            nms = NmsPlacement.Managed;
            if (description.Info.Layout != OutputLayout.EndToEnd)
            {
                logger.LogWarning("Model {Model} uses opset {Opset}; NMS runs in managed code because grafting needs opset {Minimum} or later.", description.Info.Name, description.Opset, NmsGraft.MinimumOpset);
            }
        }

        SoftmaxRewrite.Apply(proto, description.Opset);
        if (options.Preprocess == PreprocessPlacement.InGraph)
        {
            PixelGraft.Apply(proto, description);
        }
        else
        {
            AcceptFloatInput(proto, description);
        }

        if (nms == NmsPlacement.InGraph)
        {
            NmsGraft.Apply(proto, description);
        }
        else if (description.OutputType != DataType.Float)
        {
            RenameAndCast(proto.Graph.Output[0], proto, DataType.Float, producerSide: true);
        }

        var bytes = proto.ToByteArray();
        var info = description.Info;
        var profile = new TensorRtProfile(
            options.Preprocess == PreprocessPlacement.InGraph ? PixelGraft.PixelsInput : description.InputName,
            options.Preprocess == PreprocessPlacement.InGraph ? [info.InputHeight, info.InputWidth, 3] : [3, info.InputHeight, info.InputWidth],
            Dynamic: info.FixedBatch is null,
            OptimalBatch: options.MaxBatchSize,
            MaxBatch: options.MaxBatchSize,
            ModelHash: Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]);
        var (session, provider) = SessionFactory.Create(bytes, options.ModelPath, options, profile, logger);
        var host = new HostMemory(session, provider, logger);
        var concurrent = options.ConcurrentBatchesOn(provider, Environment.ProcessorCount);
        logger.LogInformation(
            "Loaded {Model} ({Layout}, {Classes} classes, input {Width}x{Height}, batch {Batch}) on {Provider}, NMS {Nms}, pixels converted {Preprocess} from {Memory} host memory; {Concurrent} batch(es) at once, {Threads} CPU thread(s) each.",
            info.Name, info.Layout, info.Names.Count, info.InputWidth, info.InputHeight, info.FixedBatch?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "dynamic", provider, nms, options.Preprocess, host.Kind,
            concurrent, options.IntraOpThreadsOn(provider, Environment.ProcessorCount));
        if (info.FixedBatch is { } fixedBatch)
        {
            logger.LogInformation("Model {Model} has a fixed batch of {Batch}: larger batches run {Batch} images per session call.", info.Name, fixedBatch, fixedBatch);
        }

        return new YoloDetector(session, description, provider, new EngineGraph(nms, options.Preprocess), host, options.MaxBatchSize, concurrent);
    }

    /// <summary>Detects objects in one image; allocates its result list (use the batch overload on hot paths).</summary>
    public List<Detection> Detect(in ImageView image, DetectionThresholds thresholds)
    {
        var result = new List<Detection>();
        Detect([image], [result], thresholds);
        return result;
    }

    public void Detect(ReadOnlySpan<ImageView> images, ReadOnlySpan<List<Detection>> results, DetectionThresholds thresholds)
    {
        if (images.Length != results.Length)
        {
            throw new ArgumentException($"{images.Length} images need as many result lists, not {results.Length}.", nameof(results));
        }

        thresholds.Validate();
        var step = FixedBatch ?? Math.Max(images.Length, 1);
        for (var start = 0; start < images.Length; start += step)
        {
            var count = Math.Min(step, images.Length - start);
            var buffers = _pool.Rent(FixedBatch ?? count, thresholds.MaxDetections);
            try
            {
                buffers.Prepare(images.Slice(start, count));
                buffers.Run(thresholds);
                buffers.Read(results.Slice(start, count), thresholds);
            }
            finally
            {
                _pool.Return(buffers);
            }
        }
    }

    /// <summary>
    /// Runs the model once at every batch size it will be given (its fixed batch, or 1 to the configured maximum) on a
    /// blank frame, so that nothing is built or tuned on the line: TensorRT engines and kernels, CUDA kernels, the
    /// batch buffers. Returns each size's time.
    /// </summary>
    public IReadOnlyList<(int Batch, TimeSpan Time)> WarmUp()
    {
        var info = Model;
        var blank = new byte[info.InputWidth * info.InputHeight * 3];
        blank.AsSpan().Fill(LetterboxPreprocessor.PadValue);
        var sizes = FixedBatch is { } fixedBatch ? [fixedBatch] : Enumerable.Range(1, _maxBatch).ToArray();
        var images = Enumerable.Repeat(new ImageView(blank, info.InputWidth, info.InputHeight, 3), sizes.Max()).ToArray();
        var results = images.Select(_ => new List<Detection>()).ToArray();
        var times = new List<(int, TimeSpan)>(sizes.Length);
        foreach (var size in sizes)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            Detect(images.AsSpan(0, size), results.AsSpan(0, size), DetectionThresholds.Default);
            times.Add((size, System.Diagnostics.Stopwatch.GetElapsedTime(started)));
        }

        return times;
    }

    public ValueTask DisposeAsync()
    {
        _pool.Dispose();
        _host.Dispose();
        _session.Dispose();
        return ValueTask.CompletedTask;
    }

    // A float16 model gets a float32 input and a Cast, so the managed preprocessing always feeds float32.
    private static void AcceptFloatInput(ModelProto proto, YoloModelDescription description)
    {
        if (description.InputType == DataType.Float16)
        {
            RenameAndCast(proto.Graph.Input.First(i => i.Name == description.InputName), proto, DataType.Float16, producerSide: false);
        }
    }

    /// <summary>
    /// Puts a Cast between a graph input or output and the nodes that use or produce it, keeping the public name.
    /// For an input, <paramref name="type"/> is the model's own type; for an output, the type callers get.
    /// </summary>
    private static void RenameAndCast(ValueInfoProto value, ModelProto proto, DataType type, bool producerSide)
    {
        var name = value.Name;
        var inner = name + "/original";
        foreach (var node in proto.Graph.Node)
        {
            var names = producerSide ? node.Output : node.Input;
            for (var i = 0; i < names.Count; i++)
            {
                if (names[i] == name)
                {
                    names[i] = inner;
                }
            }
        }

        var cast = new NodeProto { Name = name + "/cast", OpType = "Cast" };
        cast.Input.Add(producerSide ? inner : name);
        cast.Output.Add(producerSide ? name : inner);
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)type });
        // Nodes stay in topological order: an input's Cast comes first, an output's last.
        if (producerSide)
        {
            proto.Graph.Node.Add(cast);
        }
        else
        {
            proto.Graph.Node.Insert(0, cast);
        }

        value.Type.TensorType.ElemType = (int)(producerSide ? type : DataType.Float);
    }
}

using Inspection.Core;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Inspection.Inference;

/// <summary>
/// Everything one session call needs for a batch of a given size, allocated once and reused: the input tensor (in
/// the host memory the provider copies from fastest), the output tensors, the threshold inputs, one letterbox
/// preprocessor per image slot.
/// </summary>
internal sealed class BatchBuffers : IDisposable
{
    private readonly YoloModelDescription _model;
    private readonly NmsPlacement _nms;
    private readonly PreprocessPlacement _preprocess;
    private readonly string _inputName;
    private readonly int _slot;
    private readonly OrtValue _input;
    private readonly LetterboxPreprocessor[] _preprocessors;
    private readonly Letterbox[] _letterboxes;
    private readonly ImageView[] _images;
    private readonly Action<int> _prepareOne;
    private readonly float[] _confidence = new float[1];
    private readonly float[] _iou = new float[1];
    private readonly long[] _maxDetections = new long[1];
    private readonly List<Detection> _scratch = [];
    private readonly RunOptions _runOptions = new();
    private readonly InferenceSession _session;
    private readonly OrtIoBinding _binding;
    private readonly List<OrtValue> _bound = [];
    private float[] _output = [];
    private long[] _counts = [];
    private int _imageCount;

    public BatchBuffers(InferenceSession session, YoloModelDescription model, EngineGraph graph, OrtAllocator host, int batch, int maxDetections)
    {
        _session = session;
        _binding = session.CreateIoBinding();
        _model = model;
        (_nms, _preprocess) = (graph.Nms, graph.Preprocess);
        Batch = batch;
        var info = model.Info;
        _slot = 3 * info.InputWidth * info.InputHeight;
        (_inputName, _input) = _preprocess == PreprocessPlacement.InGraph
            ? (PixelGraft.PixelsInput, OrtValue.CreateAllocatedTensorValue(host, TensorElementType.UInt8, [batch, info.InputHeight, info.InputWidth, 3]))
            : (model.InputName, OrtValue.CreateAllocatedTensorValue(host, TensorElementType.Float, [batch, 3, info.InputHeight, info.InputWidth]));
        _preprocessors = Enumerable.Range(0, batch).Select(_ => new LetterboxPreprocessor()).ToArray();
        _letterboxes = new Letterbox[batch];
        _images = new ImageView[batch];
        _prepareOne = PrepareOne;
        AllocateOutputs(maxDetections);
    }

    public int Batch { get; }

    public int MaxDetections { get; private set; }

    /// <summary>Binds the inputs and outputs, sizing the grafted output for a maximum detection count.</summary>
    public void AllocateOutputs(int maxDetections)
    {
        _binding.ClearBoundInputs();
        _binding.ClearBoundOutputs();
        _bound.ForEach(v => v.Dispose());
        _bound.Clear();

        MaxDetections = maxDetections;
        var info = _model.Info;
        _binding.BindInput(_inputName, _input);
        if (_nms == NmsPlacement.InGraph)
        {
            _output = GC.AllocateUninitializedArray<float>(Batch * maxDetections * 6, pinned: true);
            _counts = GC.AllocateUninitializedArray<long>(Batch, pinned: true);
            Bind(NmsGraft.DetectionsOutput, _output, [Batch, maxDetections, 6], output: true);
            Bind(NmsGraft.CountsOutput, _counts, [Batch], output: true);
            Bind(NmsGraft.ConfidenceInput, _confidence, [1], output: false);
            Bind(NmsGraft.IoUInput, _iou, [1], output: false);
            Bind(NmsGraft.MaxDetectionsInput, _maxDetections, [1], output: false);
        }
        else
        {
            long[] shape = info.Layout switch
            {
                OutputLayout.AnchorFree => [Batch, 4 + _model.ClassCount, _model.Candidates],
                OutputLayout.Objectness => [Batch, _model.Candidates, 5 + _model.ClassCount],
                _ => [Batch, _model.Candidates, 6],
            };
            _output = GC.AllocateUninitializedArray<float>((int)(shape[0] * shape[1] * shape[2]), pinned: true);
            Bind(_model.OutputName, _output, shape, output: true);
        }
    }

    /// <summary>Letterboxes the images into the input tensor, in parallel when there are several.</summary>
    public void Prepare(ReadOnlySpan<ImageView> images)
    {
        _imageCount = images.Length;
        images.CopyTo(_images);
        if (images.Length == 1)
        {
            PrepareOne(0);
        }
        else
        {
            Parallel.For(0, images.Length, _prepareOne);
        }

        // A fixed-batch model run with fewer images: the spare slots hold padding only.
        if (_preprocess == PreprocessPlacement.InGraph)
        {
            _input.GetTensorMutableDataAsSpan<byte>()[(images.Length * _slot)..].Fill(LetterboxPreprocessor.PadValue);
        }
        else
        {
            _input.GetTensorMutableDataAsSpan<float>()[(images.Length * _slot)..].Fill(LetterboxPreprocessor.PadValue / 255f);
        }
    }

    public void Run(DetectionThresholds thresholds)
    {
        _confidence[0] = thresholds.Confidence;
        _iou[0] = thresholds.IoU;
        _maxDetections[0] = thresholds.MaxDetections;
        _session.RunWithBinding(_runOptions, _binding);
    }

    /// <summary>Turns the session's output into detections in each image's own pixels.</summary>
    public void Read(ReadOnlySpan<List<Detection>> results, DetectionThresholds thresholds)
    {
        for (var i = 0; i < _imageCount; i++)
        {
            var into = results[i];
            into.Clear();
            var letterbox = _letterboxes[i];
            if (_nms == NmsPlacement.InGraph)
            {
                var rows = _output.AsSpan(i * MaxDetections * 6, (int)_counts[i] * 6);
                for (var r = 0; r < rows.Length; r += 6)
                {
                    into.Add(new Detection((int)rows[r + 5], rows[r + 4], letterbox.ToSource(rows[r], rows[r + 1], rows[r + 2], rows[r + 3])));
                }
            }
            else
            {
                var perImage = _output.Length / Batch;
                ManagedNms.Run(_output.AsSpan(i * perImage, perImage), _model.Info.Layout, _model.ClassCount, _model.Candidates, thresholds, _scratch);
                foreach (var d in _scratch)
                {
                    into.Add(d with { Box = letterbox.ToSource(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2) });
                }
            }
        }

        Array.Clear(_images, 0, _imageCount);
    }

    public void Dispose()
    {
        _binding.Dispose();
        _bound.ForEach(v => v.Dispose());
        _input.Dispose();

        foreach (var preprocessor in _preprocessors)
        {
            preprocessor.Dispose();
        }

        _runOptions.Dispose();
    }

    private void Bind<T>(string name, T[] buffer, long[] shape, bool output)
        where T : unmanaged
    {
        var value = OrtValue.CreateTensorValueFromMemory(buffer, shape);
        _bound.Add(value);
        if (output)
        {
            _binding.BindOutput(name, value);
        }
        else
        {
            _binding.BindInput(name, value);
        }
    }

    private void PrepareOne(int i)
    {
        var info = _model.Info;
        _letterboxes[i] = _preprocess == PreprocessPlacement.InGraph
            ? _preprocessors[i].RunBytes(_images[i], _input.GetTensorMutableDataAsSpan<byte>().Slice(i * _slot, _slot), info.InputWidth, info.InputHeight)
            : _preprocessors[i].Run(_images[i], _input.GetTensorMutableDataAsSpan<float>().Slice(i * _slot, _slot), info.InputWidth, info.InputHeight);
    }
}

/// <summary>Batch buffers by batch size, handed to one caller at a time.</summary>
internal sealed class BatchBufferPool(InferenceSession session, YoloModelDescription model, EngineGraph graph, OrtAllocator host) : IDisposable
{
    private readonly Dictionary<int, Stack<BatchBuffers>> _free = [];
    private readonly List<BatchBuffers> _all = [];

    public BatchBuffers Rent(int batch, int maxDetections)
    {
        BatchBuffers? buffers = null;
        lock (_free)
        {
            if (_free.TryGetValue(batch, out var stack) && stack.Count > 0)
            {
                buffers = stack.Pop();
            }
        }

        if (buffers is null)
        {
            buffers = new BatchBuffers(session, model, graph, host, batch, maxDetections);
            lock (_free)
            {
                _all.Add(buffers);
            }
        }
        else if (graph.Nms == NmsPlacement.InGraph && buffers.MaxDetections != maxDetections)
        {
            buffers.AllocateOutputs(maxDetections);
        }

        return buffers;
    }

    public void Return(BatchBuffers buffers)
    {
        lock (_free)
        {
            if (!_free.TryGetValue(buffers.Batch, out var stack))
            {
                _free[buffers.Batch] = stack = new Stack<BatchBuffers>();
            }

            stack.Push(buffers);
        }
    }

    public void Dispose()
    {
        lock (_free)
        {
            _all.ForEach(b => b.Dispose());
            _all.Clear();
            _free.Clear();
        }
    }
}

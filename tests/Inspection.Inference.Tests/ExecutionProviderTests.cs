using Inspection.Core;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging;

namespace Inspection.Inference.Tests;

/// <summary>
/// The same engine code runs on a GPU provider where the host has one (judged independently: nvidia-smi and the
/// libraries), and falls back to the CPU, in one log line, where it has none. Every test runs on either host.
/// </summary>
public sealed class ExecutionProviderTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly string _model;

    public ExecutionProviderTests()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        _model = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, 64), _folder.File("m.onnx"));
    }

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Auto_runs_on_the_best_provider_the_host_has_and_says_in_one_line_what_it_could_not_load()
    {
        var expected = GpuHost.HasTensorRt ? ExecutionProvider.TensorRT : GpuHost.HasCuda ? ExecutionProvider.Cuda : ExecutionProvider.Cpu;
        var logs = new RecordingLoggers();
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = _model }.On(DeviceChoice.Parse("auto")), logs);

        Assert.True(expected == detector.Provider, $"this host has {GpuHost.Describe()}: expected {expected}, ran on {detector.Provider}");
        var warnings = logs.Entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        if (expected == ExecutionProvider.TensorRT)
        {
            Assert.Empty(warnings);
        }
        else
        {
            var warning = Assert.Single(warnings);
            Assert.Contains($"Running on {expected}", warning.Message);
            Assert.Contains("TensorRT", warning.Message);
            Assert.Equal(expected == ExecutionProvider.Cpu, warning.Message.Contains("Cuda (", StringComparison.Ordinal));
        }

        Assert.Equal(3, detector.Detect(SyntheticModels.Image(64, 64, 3), DetectionThresholds.Default).Count);
    }

    [Theory]
    [InlineData(ExecutionProvider.Cuda, false)]
    [InlineData(ExecutionProvider.TensorRT, false)]
    [InlineData(ExecutionProvider.TensorRT, true)]
    public async Task A_GPU_provider_finds_what_the_CPU_finds_where_the_host_has_it_and_is_a_clear_error_where_not(ExecutionProvider provider, bool fp16)
    {
        var model = SharedData.Require("models/ultralytics-pretrained/yolov8n.onnx");
        var present = provider == ExecutionProvider.Cuda ? GpuHost.HasCuda : GpuHost.HasTensorRt;
        var options = new DetectorOptions { ModelPath = model, Providers = [provider], TensorRtFp16 = fp16, MaxBatchSize = 4 };
        if (!present)
        {
            var e = Assert.Throws<InspectionInputException>(() => YoloDetector.Open(options));
            Assert.Contains("No configured execution provider", e.Message);
            Assert.Contains(provider.ToString(), e.Message);
            return;
        }

        await using var gpu = YoloDetector.Open(options);
        await using var cpu = YoloDetector.Open(new DetectorOptions { ModelPath = model, Providers = [ExecutionProvider.Cpu] });
        Assert.Equal(provider, gpu.Provider);
        Assert.Equal(gpu.FixedBatch is { } fixedBatch ? [fixedBatch] : [1, 2, 3, 4], gpu.WarmUp().Select(w => w.Batch)); // every size the profile covers runs
        using var bus = OpenCvSharp.Cv2.ImRead(SharedData.Require("media/bus.jpg"));
        using var zidane = OpenCvSharp.Cv2.ImRead(SharedData.Require("media/zidane.jpg"));
        ImageView[] images = [MatImage.View(bus), MatImage.View(zidane), MatImage.View(bus)];
        var thresholds = new DetectionThresholds(0.25f, 0.7f, 300);
        var (onGpu, onCpu) = (images.Select(_ => new List<Detection>()).ToArray(), images.Select(_ => new List<Detection>()).ToArray());
        gpu.Detect(images, onGpu, thresholds);
        cpu.Detect(images, onCpu, thresholds);

        // Float kernels differ between devices (TF32, FP16): a detection near the threshold may come or go.
        var scoreTolerance = fp16 ? 0.03f : 0.01f;
        for (var i = 0; i < images.Length; i++)
        {
            foreach (var expected in onCpu[i].Where(d => d.Score > thresholds.Confidence + scoreTolerance))
            {
                Assert.True(
                    onGpu[i].Any(d => d.ClassId == expected.ClassId && d.Box.IoU(expected.Box) >= 0.95f && Math.Abs(d.Score - expected.Score) <= scoreTolerance),
                    $"image {i}: {expected} found on the CPU, not on {provider}{(fp16 ? " FP16" : string.Empty)}");
            }
        }
    }

    [Fact]
    public async Task Warm_up_runs_every_batch_size_the_batcher_can_form_or_the_fixed_batch()
    {
        var (raw, shape) = SyntheticModels.RawOutput(OutputLayout.AnchorFree);
        var dynamic = SyntheticModels.Save(SyntheticModels.ConstantOutput(raw, shape, 64, batch: null), _folder.File("dynamic.onnx"));
        await using (var detector = YoloDetector.Open(new DetectorOptions { ModelPath = dynamic, Providers = [ExecutionProvider.Cpu], MaxBatchSize = 5 }))
        {
            Assert.Equal([1, 2, 3, 4, 5], detector.WarmUp().Select(w => w.Batch));
        }

        await using (var detector = YoloDetector.Open(new DetectorOptions { ModelPath = _model, Providers = [ExecutionProvider.Cpu], MaxBatchSize = 5 }))
        {
            Assert.Equal([1], detector.WarmUp().Select(w => w.Batch)); // a fixed batch of 1: one shape only
        }
    }

    [Fact]
    public void TensorRT_builds_one_profile_for_every_batch_and_caches_engines_by_model_profile_precision_and_gpu()
    {
        var profile = new TensorRtProfile(PixelGraft.PixelsInput, [640, 640, 3], Dynamic: true, OptimalBatch: 8, MaxBatch: 8, ModelHash: "0123456789abcdef");
        var settings = SessionFactory.TensorRtSettings(new DetectorOptions { DeviceId = 1, TensorRtFp16 = true, TensorRtCacheDirectory = "/var/cache/trt" }, profile);

        Assert.Equal("pixels:1x640x640x3", settings["trt_profile_min_shapes"]);
        Assert.Equal("pixels:8x640x640x3", settings["trt_profile_opt_shapes"]);
        Assert.Equal("pixels:8x640x640x3", settings["trt_profile_max_shapes"]);
        Assert.Equal("1", settings["trt_fp16_enable"]);
        Assert.Equal("1", settings["device_id"]);
        Assert.Equal("0123456789abcdef_b1-8-8_fp16_gpu1", settings["trt_engine_cache_prefix"]);
        Assert.Equal("/var/cache/trt", settings["trt_engine_cache_path"]);

        // A fixed-batch model has one shape: no profile; no cache folder, no cache.
        var fixedBatch = SessionFactory.TensorRtSettings(new DetectorOptions(), profile with { Dynamic = false });
        Assert.False(fixedBatch.ContainsKey("trt_profile_min_shapes"));
        Assert.False(fixedBatch.ContainsKey("trt_engine_cache_enable"));
        Assert.Equal("0", fixedBatch["trt_fp16_enable"]);
    }

    private sealed class RecordingLoggers : ILoggerFactory, ILoggerProvider, ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries)
            {
                Entries.Add((logLevel, formatter(state, exception)));
            }
        }

        public void Dispose()
        {
        }
    }
}

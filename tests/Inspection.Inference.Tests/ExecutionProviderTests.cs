using Inspection.Core;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging;

namespace Inspection.Inference.Tests;

/// <summary>The same engine code runs on a GPU provider where one loads and falls back to the CPU, in one log line, where none does.</summary>
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

    [SkippableFact]
    public async Task Without_a_GPU_the_default_providers_fall_back_to_the_CPU_with_one_warning()
    {
        Skip.If(GpuPresent(), "this host has a GPU: the fallback cannot be observed");
        var logs = new RecordingLoggers();
        await using var detector = YoloDetector.Open(new DetectorOptions { ModelPath = _model }, logs);

        Assert.Equal(ExecutionProvider.Cpu, detector.Provider);
        var warning = Assert.Single(logs.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Contains("Running on Cpu", warning.Message);
        Assert.Contains("TensorRT", warning.Message);
        Assert.Contains("Cuda", warning.Message);
        Assert.Equal(3, detector.Detect(SyntheticModels.Image(64, 64, 3), DetectionThresholds.Default).Count);
    }

    [SkippableFact]
    public void Only_unavailable_providers_is_a_clear_error()
    {
        Skip.If(GpuPresent(), "this host has a GPU");
        var e = Assert.Throws<InspectionInputException>(() => YoloDetector.Open(new DetectorOptions { ModelPath = _model, Providers = [ExecutionProvider.Cuda] }));
        Assert.Contains("No configured execution provider", e.Message);
        Assert.Contains("Cuda", e.Message);
    }

    private static bool GpuPresent() => File.Exists("/dev/nvidia0");

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

using System.Globalization;
using Inspection.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Inference;

/// <summary>Creates an ONNX Runtime session on the first configured execution provider that loads.</summary>
internal static class SessionFactory
{
    public static (InferenceSession Session, ExecutionProvider Provider) Create(byte[] model, string source, DetectorOptions options, TensorRtProfile profile, ILogger logger)
    {
        var failures = new List<string>();
        foreach (var provider in options.ProvidersToTry)
        {
            SessionOptions? sessionOptions = null;
            var environment = OrtEnv.Instance();
            var logLevel = environment.EnvLogLevel;
            try
            {
                // A missing GPU library is expected on CPU hosts: it is reported once below, not as native errors.
                environment.EnvLogLevel = provider == ExecutionProvider.Cpu ? logLevel : OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
                sessionOptions = CreateOptions(provider, options, profile);
                var session = new InferenceSession(model, sessionOptions);
                if (failures.Count > 0)
                {
                    logger.LogWarning("Running on {Provider}; unavailable: {Failures}.", provider, string.Join("; ", failures));
                }

                return (session, provider);
            }
            catch (OnnxRuntimeException e) when (IsProviderFailure(e, provider))
            {
                failures.Add($"{provider} ({Reason(e)})");
            }
            catch (OnnxRuntimeException e)
            {
                throw new ModelFormatException($"ONNX Runtime cannot load model '{source}': {OnnxModelFile.FirstLine(e.Message)}", e);
            }
            finally
            {
                environment.EnvLogLevel = logLevel;
                sessionOptions?.Dispose();
            }
        }

        throw new Inspection.Core.InspectionInputException($"No configured execution provider could run model '{source}': {string.Join("; ", failures)}.");
    }

    private static SessionOptions CreateOptions(ExecutionProvider provider, DetectorOptions options, TensorRtProfile profile)
    {
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = options.IntraOpThreadsOn(provider, Environment.ProcessorCount),
        };

        try
        {
            switch (provider)
            {
                case ExecutionProvider.TensorRT:
                    using (var trt = new OrtTensorRTProviderOptions())
                    {
                        trt.UpdateOptions(TensorRtSettings(options, profile));
                        sessionOptions.AppendExecutionProvider_Tensorrt(trt);
                    }

                    // Nodes TensorRT cannot take (NonMaxSuppression among them) fall to CUDA before the CPU.
                    sessionOptions.AppendExecutionProvider_CUDA(options.DeviceId);
                    break;
                case ExecutionProvider.Cuda:
                    sessionOptions.AppendExecutionProvider_CUDA(options.DeviceId);
                    break;
            }
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }

        return sessionOptions;
    }

    /// <summary>
    /// TensorRT's settings: one optimisation profile for every batch the engine will be given (so it never rebuilds
    /// when a larger batch arrives), FP16 when asked, and an engine cache whose file names carry everything the engine
    /// depends on: the model (as grafted), the profile, the precision and the GPU (ONNX Runtime adds the GPU's
    /// compute capability).
    /// </summary>
    public static Dictionary<string, string> TensorRtSettings(DetectorOptions options, TensorRtProfile profile)
    {
        var settings = new Dictionary<string, string>
        {
            ["device_id"] = options.DeviceId.ToString(CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = options.TensorRtFp16 ? "1" : "0",
        };
        if (profile.Dynamic)
        {
            settings["trt_profile_min_shapes"] = profile.Shape(1);
            settings["trt_profile_opt_shapes"] = profile.Shape(profile.OptimalBatch);
            settings["trt_profile_max_shapes"] = profile.Shape(profile.MaxBatch);
        }

        if (options.TensorRtCacheDirectory is { } cache)
        {
            settings["trt_engine_cache_enable"] = "1";
            settings["trt_engine_cache_path"] = cache;
            settings["trt_engine_cache_prefix"] = $"{profile.ModelHash}_b1-{profile.OptimalBatch}-{profile.MaxBatch}_{(options.TensorRtFp16 ? "fp16" : "fp32")}_gpu{options.DeviceId}";
            settings["trt_timing_cache_enable"] = "1";
            settings["trt_timing_cache_path"] = cache;
        }

        return settings;
    }

    /// <summary>The useful part of a provider failure, such as "libcublas.so.13: cannot open shared object file".</summary>
    private static string Reason(OnnxRuntimeException e)
    {
        var message = OnnxModelFile.FirstLine(e.Message);
        var cause = message.LastIndexOf("with error: ", StringComparison.Ordinal);
        if (cause >= 0)
        {
            return message[(cause + "with error: ".Length)..].Trim();
        }

        var colon = message.LastIndexOf(": ", StringComparison.Ordinal);
        return colon >= 0 ? message[(colon + 2)..].Trim() : message;
    }

    // A GPU provider that cannot load fails while the session is built; anything on the CPU is the model's fault.
    private static bool IsProviderFailure(OnnxRuntimeException e, ExecutionProvider provider) =>
        provider != ExecutionProvider.Cpu || e.Message.Contains("shared library", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// The shapes TensorRT builds its engine for: the model's one image input at batch 1 to <see cref="MaxBatch"/>,
/// tuned for <see cref="OptimalBatch"/>; a fixed-batch model has one shape and needs no profile.
/// </summary>
/// <param name="PerImage">The input's dimensions after the batch, such as 640, 640, 3.</param>
/// <param name="ModelHash">A short hash of the model as it will run (after the engine's grafts).</param>
internal sealed record TensorRtProfile(string Input, long[] PerImage, bool Dynamic, int OptimalBatch, int MaxBatch, string ModelHash)
{
    public string Shape(int batch) => $"{Input}:{batch}x{string.Join('x', PerImage)}";
}

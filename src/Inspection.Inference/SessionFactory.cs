using Inspection.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Inference;

/// <summary>Creates an ONNX Runtime session on the first configured execution provider that loads.</summary>
internal static class SessionFactory
{
    public static (InferenceSession Session, ExecutionProvider Provider) Create(byte[] model, string source, DetectorOptions options, ILogger logger)
    {
        if (options.Providers.Count == 0)
        {
            throw new Inspection.Core.InspectionInputException("No execution provider is configured; list at least one of TensorRT, Cuda, Cpu.");
        }

        var failures = new List<string>();
        foreach (var provider in options.Providers.Distinct())
        {
            SessionOptions? sessionOptions = null;
            var environment = OrtEnv.Instance();
            var logLevel = environment.EnvLogLevel;
            try
            {
                // A missing GPU library is expected on CPU hosts: it is reported once below, not as native errors.
                environment.EnvLogLevel = provider == ExecutionProvider.Cpu ? logLevel : OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
                sessionOptions = CreateOptions(provider, options);
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

    private static SessionOptions CreateOptions(ExecutionProvider provider, DetectorOptions options)
    {
        var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (options.IntraOpThreads is { } threads)
        {
            sessionOptions.IntraOpNumThreads = threads;
        }

        try
        {
            switch (provider)
            {
                case ExecutionProvider.TensorRT:
                    using (var trt = new OrtTensorRTProviderOptions())
                    {
                        var settings = new Dictionary<string, string> { ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) };
                        if (options.TensorRtCacheDirectory is { } cache)
                        {
                            settings["trt_engine_cache_enable"] = "1";
                            settings["trt_engine_cache_path"] = cache;
                        }

                        trt.UpdateOptions(settings);
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

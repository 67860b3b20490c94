using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.Core;
using Inspection.Messaging;
using Inspection.Training.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Inspection.Cli;

/// <summary>
/// What <c>train</c> and <c>retrain</c> tell the outside while they run, fed by the trainer's one progress event:
/// Prometheus gauges on their own /metrics (--metrics-url, scraped while the job's pod or container lives: a
/// Pushgateway would keep a finished job's last figures forever, and the registry's report already keeps them),
/// and with --mqtt-host a summary per epoch on {line}/service/training (and each retraining run's outcome).
/// </summary>
internal sealed class TrainingTelemetry : IAsyncDisposable
{
    private static readonly string[] Outcomes = ["promoted", "kept", "failed"];
    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();
    private readonly WebApplication? _server;
    private readonly MqttSession? _mqtt;
    private readonly ILogger _logger;
    private readonly string _device;
    private readonly Gauge _epoch;
    private readonly Gauge _epochs;
    private readonly Gauge _loss;
    private readonly Gauge _map50;
    private readonly Gauge _map50To95;
    private readonly Gauge _imagesPerSecond;
    private readonly Gauge _eta;
    private readonly Gauge _deviceMemory;
    private readonly Counter _runs;
    private readonly Gauge _lastRun;

    private TrainingTelemetry(Uri? metricsUrl, MqttOptions? mqtt, string device, ILogger logger)
    {
        _logger = logger;
        _device = device;
        var factory = Metrics.WithCustomRegistry(_registry);
        _epoch = factory.CreateGauge("inspection_training_epoch", "The epoch being trained (1-based).");
        _epochs = factory.CreateGauge("inspection_training_epochs", "The epochs the run will train.");
        _loss = factory.CreateGauge("inspection_training_loss", "Mean loss of the epoch so far, by part (box, cls, dfl) and split.", ["split", "loss"]);
        _map50 = factory.CreateGauge("inspection_training_map50", "mAP at IoU 0.5 on the validation split, after the last epoch.");
        _map50To95 = factory.CreateGauge("inspection_training_map50_95", "mAP at IoU 0.5-0.95 on the validation split, after the last epoch.");
        _imagesPerSecond = factory.CreateGauge("inspection_training_images_per_second", "Training images per second in this epoch.");
        _eta = factory.CreateGauge("inspection_training_eta_seconds", "Estimated time until the run's last epoch ends.");
        _deviceMemory = factory.CreateGauge("inspection_training_device_memory_bytes", "Memory the trainer holds on its device: GPU memory on CUDA (nvidia-smi), resident memory on the CPU.", ["device"]);
        _runs = factory.CreateCounter("inspection_training_runs_total", "Retraining runs by outcome: promoted, kept (not better), failed.", ["outcome"]);
        _lastRun = factory.CreateGauge("inspection_training_last_run_timestamp_seconds", "When the last retraining run ended (Unix time).");
        foreach (var outcome in Outcomes)
        {
            _runs.WithLabels(outcome); // at 0 from the start, so that increase() sees the first failure
        }

        _registry.AddBeforeCollectCallback(() => _deviceMemory.WithLabels(_device).Set(DeviceMemory.Bytes(_device)));
        if (metricsUrl is not null)
        {
            _server = ServeMetrics(metricsUrl, _registry);
            logger.LogInformation("Training metrics on http://{Host}:{Port}/metrics", metricsUrl.Host, metricsUrl.Port);
        }

        if (mqtt is not null)
        {
            _mqtt = new MqttSession(mqtt, logger);
            _mqtt.Start();
        }
    }

    public static Option<string?> MetricsUrl { get; } = new("--metrics-url") { Description = "Serve the run's progress as Prometheus metrics at this address while it runs (http://127.0.0.1:9402; 0.0.0.0 for every interface)." };

    public static Option<string?> MqttHost { get; } = new("--mqtt-host") { Description = "Publish progress (each epoch) and summaries to this broker." };

    public static Option<int> MqttPort { get; } = new("--mqtt-port") { DefaultValueFactory = _ => 1883 };

    public static Option<string?> MqttUser { get; } = new("--mqtt-user") { Description = "The broker user." };

    public static Option<string?> MqttPasswordFile { get; } = new("--mqtt-password-file") { Description = "A file holding the broker user's password (never on the command line)." };

    public static Option<string> Site { get; } = new("--site") { DefaultValueFactory = _ => "site" };

    public static Option<string> Line { get; } = new("--line") { DefaultValueFactory = _ => "line" };

    public static IEnumerable<Option> Options => [MetricsUrl, MqttHost, MqttPort, MqttUser, MqttPasswordFile, Site, Line];

    /// <summary>The telemetry the command line asks for; <paramref name="queueFolder"/> keeps MQTT messages the broker has not taken yet.</summary>
    public static TrainingTelemetry Start(ParseResult parse, string device, string queueFolder, ILogger logger)
    {
        Uri? metrics = null;
        if (parse.GetValue(MetricsUrl) is { } url && (!Uri.TryCreate(url, UriKind.Absolute, out metrics) || metrics.Scheme != "http" || metrics.IsDefaultPort))
        {
            throw new InspectionInputException($"--metrics-url '{url}' is not an address like http://127.0.0.1:9402.");
        }

        var mqtt = parse.GetValue(MqttHost) is { } host
            ? new MqttOptions
            {
                Host = host,
                Port = parse.GetValue(MqttPort),
                Username = parse.GetValue(MqttUser),
                PasswordFile = parse.GetValue(MqttPasswordFile),
                Site = parse.GetValue(Site)!,
                Line = parse.GetValue(Line)!,
                ClientId = $"inspection-training-{Environment.ProcessId}",
                Queue = new DiskQueueOptions { Directory = queueFolder },
            }
            : null;
        return new TrainingTelemetry(metrics, mqtt, device, logger);
    }

    /// <summary>
    /// /metrics on Kestrel, as the worker serves it. Not prometheus-net's MetricServer: .NET's managed HttpListener
    /// crashes the process when a scrape arrives while it starts (dotnet/corefx#35191), which Prometheus's retries make likely.
    /// </summary>
    private static WebApplication ServeMetrics(Uri url, CollectorRegistry registry)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear(); // nothing from the working folder's appsettings.json or ASPNETCORE_ variables
        builder.Configuration.AddInMemoryCollection(); // where UseUrls writes
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url.GetLeftPart(UriPartial.Authority));
        var app = builder.Build();
        app.MapMetrics("/metrics", registry);
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
            return app;
        }
        catch (IOException e)
        {
            throw new InspectionInputException($"--metrics-url {url}: cannot listen there ({e.Message.TrimEnd('.')}); choose a free port.");
        }
    }

    /// <summary>The trainer's progress event: gauges always; at the end of an epoch, its validation and an MQTT summary.</summary>
    public void Observe(TrainingProgress progress)
    {
        _epoch.Set(progress.Epoch);
        _epochs.Set(progress.Epochs);
        _loss.WithLabels("train", "box").Set(progress.Loss.Box);
        _loss.WithLabels("train", "cls").Set(progress.Loss.Class);
        _loss.WithLabels("train", "dfl").Set(progress.Loss.Dfl);
        _imagesPerSecond.Set(progress.ImagesPerSecond);
        _eta.Set(progress.Eta.TotalSeconds);
        if (progress.Validated is not { } epoch)
        {
            return;
        }

        _map50.Set(epoch.Validation.MAP50);
        _map50To95.Set(epoch.Validation.MAP50To95);
        Publish("training", new
        {
            epoch = epoch.Epoch,
            epochs = progress.Epochs,
            loss = new { box = Math.Round(epoch.Loss.Box, 4), cls = Math.Round(epoch.Loss.Class, 4), dfl = Math.Round(epoch.Loss.Dfl, 4) },
            mAP50 = Math.Round(epoch.Validation.MAP50, 4),
            mAP50_95 = Math.Round(epoch.Validation.MAP50To95, 4),
            imagesPerSecond = Math.Round(progress.ImagesPerSecond, 1),
            etaSeconds = Math.Round(progress.Eta.TotalSeconds),
            device = _device,
        });
    }

    /// <summary>A retraining run ended: counted by outcome, and its summary published.</summary>
    public void RunEnded(string outcome, object summary)
    {
        _runs.WithLabels(outcome).Inc();
        _lastRun.SetToCurrentTimeUtc();
        Publish("retrain", summary);
    }

    public async ValueTask DisposeAsync()
    {
        if (_mqtt is not null)
        {
            if (!await _mqtt.FlushAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false))
            {
                _logger.LogWarning("Training summaries did not all reach the broker; they wait in {Queue} for the next run.", _mqtt.Options.Queue.Directory);
            }

            await _mqtt.DisposeAsync().ConfigureAwait(false);
        }

        if (_server is not null)
        {
            await _server.StopAsync().ConfigureAwait(false);
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Queued on disk first (the session logs what it could not queue); the default drop-oldest policy never blocks the trainer.</summary>
    private void Publish(string kind, object summary)
    {
        if (_mqtt is not null)
        {
            _mqtt.EnqueueAsync(new OutboundMessage { Topic = _mqtt.Topics.ServiceEvent(kind), Payload = JsonSerializer.SerializeToUtf8Bytes(summary) }).AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Device memory: TorchSharp has no CUDA memory statistics, so nvidia-smi's figure for this process on a GPU.</summary>
    private static class DeviceMemory
    {
        public static double Bytes(string device) => device.StartsWith("cuda", StringComparison.Ordinal) ? Gpu() : Environment.WorkingSet;

        private static double Gpu()
        {
            try
            {
                using var smi = Process.Start(new ProcessStartInfo("nvidia-smi", ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
                var pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
                var mebibytes = smi.StandardOutput.ReadToEnd().Split('\n').Select(l => l.Split(',', StringSplitOptions.TrimEntries)).Where(f => f.Length == 2 && f[0] == pid).Sum(f => double.Parse(f[1], CultureInfo.InvariantCulture));
                smi.WaitForExit();
                return mebibytes * 1024 * 1024;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return double.NaN; // no nvidia-smi: unknown, not zero
            }
        }
    }
}

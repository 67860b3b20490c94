using System.Net.Sockets;
using Inspection.Core;
using Inspection.Vision;
using Inspection.Worker.Configuration;
using Inspection.Worker.Evidence;
using Inspection.Worker.Observability;
using Inspection.Messaging;
using Inspection.Messaging.Sparkplug;
using Inspection.Worker.Control;
using Inspection.Worker.Output;
using Inspection.Worker.Pipeline;
using Inspection.Worker.Serving;
using Inspection.Worker.Rules;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Inspection.Worker;

/// <summary>
/// Builds and runs the worker: configuration (appsettings.json, an optional --config file, environment
/// variables, the command line), checked as a whole before anything starts; then the MQTT side, the model,
/// the evidence store and the pipeline as hosted services, and /metrics and /health over HTTP.
/// </summary>
public static class WorkerApp
{
    public const int ConfigurationError = 2;

    /// <summary>The worker could not start, or its detector stage failed while running.</summary>
    public const int StartFailure = 1;

    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            var built = Build(args);
            if (built.Problems.Count > 0)
            {
                Console.Error.WriteLine($"inspection-worker: the configuration has {built.Problems.Count} problem(s); nothing was started:");
                foreach (var problem in built.Problems)
                {
                    Console.Error.WriteLine($"  - {problem}");
                }

                return ConfigurationError;
            }

            app = built.App!;
        }
        catch (Exception e) when (Explain(e) is { } reason)
        {
            Console.Error.WriteLine($"inspection-worker: {reason}");
            return ConfigurationError;
        }

        try
        {
            try
            {
                await app.StartAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // SIGTERM while starting: what did start is stopped in order below, as in any shutdown.
            }

            await app.WaitForShutdownAsync().ConfigureAwait(false);

            // The detector stage failed and stopped the host (its exception is logged): a supervisor should restart it.
            return app.Services.GetServices<IHostedService>().OfType<InspectionPipeline>().Any(p => p.ExecuteTask is { IsFaulted: true }) ? StartFailure : 0;
        }
        catch (Exception e) when (Explain(e) is { } reason)
        {
            Console.Error.WriteLine($"inspection-worker: cannot start: {reason}");

            // What started before the failure (cameras, the pipeline's detector calls) stops as in any shutdown
            // before the services are disposed of: a model disposed of under a running batch crashes the process.
            await app.StopAsync().ConfigureAwait(false);
            return StartFailure;
        }
        finally
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The application, or the configuration's problems (all of them) when it has any.</summary>
    public static (WebApplication? App, List<string> Problems) Build(string[] args)
    {
        WebApplicationBuilder builder;
        try
        {
            builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        }
        catch (InvalidDataException e)
        {
            // appsettings.json beside the worker, or appsettings.{environment}.json, that does not parse.
            throw new InspectionInputException($"{e.Message.TrimEnd('.')}: it is {WorkerConfiguration.Refusal(e)}.", e);
        }

        var extra = builder.Configuration["config"] ?? Environment.GetEnvironmentVariable("INSPECTION_CONFIG");
        if (extra is { Length: > 0 })
        {
            WorkerConfiguration.AddFile(builder.Configuration, extra);
            builder.Configuration.AddEnvironmentVariables(); // environment and command line still win over the file
            builder.Configuration.AddCommandLine(args);
        }

        var (options, problems) = WorkerConfiguration.Read(builder.Configuration);
        if (problems.Count == 0)
        {
            problems.AddRange(DataFolders.Problems(options));
        }

        if (problems.Count > 0)
        {
            return (null, problems);
        }

        // OpenCV's native library and what it needs (GTK, libatomic) are loaded now, so that a system that lacks one
        // says so in one line before anything starts, not from every camera's thread.
        _ = OpenCvSharp.Cv2.GetVersionString();
        if (options.Cameras.Count == 0)
        {
            options.Cameras.Add(DemoCamera());
        }

        // One line per event by default; Logging:Console:FormatterName=json gives JSON lines for Loki or ELK. These
        // defaults come first so that Logging:Console:FormatterOptions in the configuration override them.
        builder.Services.Configure<SimpleConsoleFormatterOptions>(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Services.Configure<JsonConsoleFormatterOptions>(o =>
        {
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
        });
        builder.Logging.ClearProviders().AddConsole();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        AddServices(builder.Services, options);
        WebListener.Add(builder, options);
        builder.Services.AddHostedService<StartupBanner>();
        builder.Services.AddHealthChecks().AddCheck<ReadinessCheck>("ready", tags: ["ready"]);

        var app = builder.Build();
        WebListener.Map(app, options);
        app.MapMetrics("/metrics", app.Services.GetRequiredService<WorkerMetrics>().Registry);
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = ReadinessCheck.WriteAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = ReadinessCheck.WriteAsync });
        return (app, []);
    }

    /// <summary>
    /// The worker's parts. The outputs are the <see cref="IResultSink"/> registrations: a new output is one class
    /// and one options section, registered here; the pipeline does not change.
    /// </summary>
    public static void AddServices(IServiceCollection services, InspectionOptions options)
    {
        services.AddSingleton(Options.Create(options));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<WorkerMetrics>();
        services.AddSingleton<RuleBook>();
        services.AddSingleton<CameraFeeds>();
        services.AddSingleton<CommandRouter>();
        services.AddSingleton<CommandAuthority>();
        services.AddSingleton<AuditLog>();
        services.AddSingleton<CommandGate>();
        services.AddSingleton<TriggerDesk>();
        services.AddSingleton<IResultSink>(provider => new JsonResultSink(provider.GetRequiredService<MessagingHost>().Session, provider.GetRequiredService<TimeProvider>(), options.Web.EvidenceBaseUrl()));
        if (options.Sparkplug.Enabled)
        {
            services.AddSingleton<IResultSink>(provider => new SparkplugSink(options.Mqtt, options.Sparkplug, provider.GetRequiredService<ILoggerFactory>().CreateLogger<SparkplugSink>()));
        }

        // Started in this order, stopped in reverse: requests are wired before MQTT connects, MQTT is up before
        // the outputs and down after them, the pipeline is last up and first down.
        AddHosted<RuleCommands>(services);
        AddHosted<EvidenceCommands>(services);
        AddHosted<MqttRequests>(services);
        AddHosted<MessagingHost>(services);
        AddHosted<SinkFanOut>(services);
        AddHosted<EvidenceStore>(services);
        AddHosted<ModelHost>(services);
        AddHosted<InspectionPipeline>(services);
        AddHosted<ModelControl>(services);
    }

    private static void AddHosted<T>(IServiceCollection services)
        where T : class, IHostedService
    {
        services.AddSingleton<T>();
        services.AddHostedService(provider => provider.GetRequiredService<T>());
    }

    private static WorkerCameraOptions DemoCamera() => new()
    {
        Id = "demo",
        Uri = BundledFiles.Find(BundledFiles.DemoPictures) ?? throw new InspectionInputException($"no camera is configured (Inspection:Cameras) and the bundled demo pictures {BundledFiles.DemoPictures} are not beside the worker."),
        Kind = SourceKind.Folder,
        Loop = true,
        FolderFps = 2,
    };

    /// <summary>A start-up failure a user can fix, in one line; null for anything else (which then shows its stack).</summary>
    private static string? Explain(Exception e) => e switch
    {
        _ when NativeLibraries.Explain(e) is { } missing => missing,
        InspectionInputException input => input.Message,

        // A framework section (Logging:Console, Kestrel, ...) with a value its options cannot take, found as the host is built.
        InvalidOperationException when e.Message.Contains("configuration value", StringComparison.OrdinalIgnoreCase) =>
            $"{e.Message.TrimEnd('.')}{(e.InnerException is { } cause ? ": " + cause.Message : string.Empty)}",
        IOException io when io.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase) =>
            $"{io.Message.TrimEnd('.')}; another process listens there: set Inspection:Http:Url (metrics and health) or Inspection:Web:Url (the screen), whichever has that address, to a free address",
        SocketException { SocketErrorCode: SocketError.AddressNotAvailable } socket =>
            $"{socket.Message}: Inspection:Http:Url names an address this machine does not have; use one of its own, 127.0.0.1 or 0.0.0.0",
        AggregateException { InnerExceptions.Count: 1 } aggregate => Explain(aggregate.InnerException!),
        _ when e.InnerException is not null => Explain(e.InnerException),
        _ => null,
    };

    /// <summary>Says, once everything runs, where to look.</summary>
    private sealed class StartupBanner(IHostApplicationLifetime lifetime, IOptions<InspectionOptions> options, MessagingHost messaging, ModelHost model, ILogger<StartupBanner> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() =>
            {
                var url = options.Value.Http.Url.TrimEnd('/');
                var web = options.Value.Web;
                logger.LogInformation(
                    "Inspecting {Cameras} with {Model} {Version}. Results: {Watch}  Screen: {Screen}  Metrics: {Url}/metrics  Health: {Url}/health/ready",
                    string.Join(", ", options.Value.Cameras.Select(c => $"{c.Id} ({c.Mode.ToString().ToLowerInvariant()})")),
                    model.Serving.Name, model.Serving.Version, messaging.WatchCommand, web.Enabled ? web.Url.TrimEnd('/') + "/" : "off", url, url);
            });
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

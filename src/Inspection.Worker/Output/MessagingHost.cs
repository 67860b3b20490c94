using System.Net;
using Inspection.Access;
using Inspection.Messaging;
using Inspection.Worker.Configuration;
using Inspection.Worker.Observability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Output;

/// <summary>
/// The MQTT side: the embedded broker when no broker is configured, and the service's MQTT session with its
/// durable queue, which the JSON results sink publishes through and triggers and commands come in on.
/// Started first and stopped last, so the last results still find their way out.
/// </summary>
public sealed class MessagingHost : IHostedService, IAsyncDisposable
{
    private readonly MqttOptions _options;
    private readonly InspectionOptions _inspection;
    private readonly TimeSpan _shutdown;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private EmbeddedBroker? _broker;
    private int _disposed;

    public MessagingHost(IOptions<InspectionOptions> options, WorkerMetrics metrics, ILoggerFactory loggers)
    {
        _inspection = options.Value;
        _options = options.Value.Mqtt;
        _shutdown = options.Value.ShutdownTimeout;
        _loggers = loggers;
        _logger = loggers.CreateLogger<MessagingHost>();
        Session = new MqttSession(_options, loggers.CreateLogger<MqttSession>());
        metrics.MqttQueueLimitBytes.Set(_options.Queue.MaxBytes);
        metrics.MqttQueueLimitMessages.Set(_options.Queue.MaxMessages);
        metrics.BeforeScrape(() =>
        {
            var counters = Session.Counters;
            metrics.MqttQueueDepth.Set(counters.QueueDepth);
            metrics.MqttQueueBytes.Set(counters.QueueBytes);
            metrics.SetVolumeFree("mqtt_queue", _options.Queue.Directory);
            metrics.MqttConnected.Set(Session.IsConnected ? 1 : 0);
            metrics.MqttFailures.WithLabels("refused").IncTo(counters.Rejected);
            metrics.MqttFailures.WithLabels("dropped").IncTo(counters.Dropped);
            metrics.MqttFailures.WithLabels("disk_full").IncTo(counters.Unwritable);
        });
    }

    public MqttSession Session { get; }

    /// <summary>The embedded broker refused someone: (user, topic, "connect" or "publish"). The audit log listens.</summary>
    public event Action<string, string, string>? BrokerDenied;

    /// <summary>Where people can watch the results: a mosquitto_sub command line.</summary>
    public string WatchCommand => _options.UsesEmbeddedBroker
        ? $"mosquitto_sub -h {_options.EmbeddedBrokerAddress} -p {_options.EmbeddedBrokerPort} -t '{Session.Topics.LineRoot.Split('/')[0]}/#' -v"
        : $"mosquitto_sub -h {_options.Host} -p {_options.Port} -t '{Session.Topics.LineRoot}/#' -v";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.UsesEmbeddedBroker)
        {
            var access = _inspection.Access.UsersFile is { Length: > 0 } users
                ? new BrokerAccess(UsersFile.Load(users), new TopicRules(Session.Topics.LineRoot, _inspection.Sparkplug.Enabled ? _inspection.Sparkplug.GroupId : null), (user, topic, action) => BrokerDenied?.Invoke(user, topic, action))
                : null;
            _broker = await EmbeddedBroker.StartAsync(_options.EmbeddedBrokerPort, _loggers.CreateLogger<EmbeddedBroker>(), IPAddress.Parse(_options.EmbeddedBrokerAddress), access).ConfigureAwait(false);
        }

        Session.Start();
    }

    /// <summary>Waits (within the shutdown's time) for the queue to reach the broker; what does not stays on disk for the next start.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Within what is left of the shutdown's time: the host cancels the token when it runs out.
        var flushed = Session.FlushAsync(_shutdown);
        await Task.WhenAny(flushed, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        if (!flushed.IsCompletedSuccessfully || !flushed.Result)
        {
            _logger.LogWarning("{Count} MQTT messages were not acknowledged before shutdown; they stay in {Queue} and go out at the next start.", Session.Counters.QueueDepth, _options.Queue.Directory);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // registered both as a service and as a hosted service: disposed twice
        }

        await Session.DisposeAsync().ConfigureAwait(false);
        if (_broker is not null)
        {
            await _broker.DisposeAsync().ConfigureAwait(false);
        }
    }
}

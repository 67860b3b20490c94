using System.Buffers;
using System.Security.Authentication;
using Inspection.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Protocol;

namespace Inspection.Messaging;

/// <summary>Counts of what the session did, for metrics and tests.</summary>
public readonly record struct PublisherCounters(long Accepted, long Published, long Resent, long Rejected, long Dropped, long QueueDepth, long Connects, long Unwritable = 0, long QueueBytes = 0);

/// <summary>
/// The service's MQTT session: one connection that publishes without losing anything and hands what arrives on
/// its subscriptions to their handlers. Every message is first appended to the on-disk queue, then sent in order
/// with up to MaxInFlight awaiting the broker's acknowledgement, and removed only once acknowledged. While the
/// broker is unreachable the queue fills (bounded, with a configured policy); after a reconnect, or a restart of
/// the process, it is sent in order. The service's online state is a retained message that the broker's Last
/// Will turns to offline if the process dies.
/// </summary>
public sealed class MqttSession : IAsyncDisposable
{
    private readonly MqttOptions _options;
    private readonly ILogger _logger;
    private readonly MqttTopics _topics;
    private readonly DiskQueue _queue;
    private readonly IMqttClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private readonly List<(string Filter, Func<InboundMessage, Task> Handler)> _subscriptions = [];
    private Task? _loop;
    private CancellationTokenSource _connection = new();
    private long _accepted;
    private long _published;
    private long _resent;
    private long _rejected;
    private long _connects;
    private long _lastDropLog = long.MinValue / 2;
    private string? _lastError;
    private int _disposed;

    public MqttSession(MqttOptions options, ILogger? logger = null)
    {
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _topics = new MqttTopics(options);
        _queue = new DiskQueue(options.Queue, _logger);
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += _ =>
        {
            _connection.Cancel(); // wakes the drain loop at once instead of at its next idle check
            return Task.CompletedTask;
        };
    }

    public MqttTopics Topics => _topics;

    public MqttOptions Options => _options;

    public bool IsConnected => _client.IsConnected;

    /// <summary>Why the last connection attempt or publish failed, in words a person can act on; null when connected.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    public PublisherCounters Counters => new(
        Interlocked.Read(ref _accepted), Interlocked.Read(ref _published), Interlocked.Read(ref _resent),
        Interlocked.Read(ref _rejected), _queue.Dropped, _queue.Count, Interlocked.Read(ref _connects), _queue.Unwritable, _queue.Bytes);

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Subscribes to <paramref name="filter"/> on every connection and hands what arrives to <paramref name="handler"/>; call before <see cref="Start"/>.</summary>
    public void Subscribe(string filter, Func<InboundMessage, Task> handler) => _subscriptions.Add((filter, handler));

    /// <summary>Queues a message behind the ones already queued; false when the full queue's policy dropped it.</summary>
    public async ValueTask<bool> EnqueueAsync(OutboundMessage message, CancellationToken cancel = default)
    {
        var accepted = await _queue.EnqueueAsync(message.Encode(), cancel).ConfigureAwait(false);
        if (accepted)
        {
            Interlocked.Increment(ref _accepted);
        }
        else if (Environment.TickCount64 - Interlocked.Read(ref _lastDropLog) >= 10_000)
        {
            // One line every 10 s at most: a full queue or disk refuses every message until there is room.
            Interlocked.Exchange(ref _lastDropLog, Environment.TickCount64);
            _logger.LogWarning("MQTT queue: a message for {Topic} was not accepted ({Dropped} dropped as the queue was full, policy {Policy}; {Unwritable} refused by the disk); {Count} wait.", message.Topic, _queue.Dropped, _options.Queue.FullPolicy, _queue.Unwritable, _queue.Count);
        }

        return accepted;
    }

    /// <summary>Waits until every queued message was acknowledged or <paramref name="deadline"/> passed; true if flushed.</summary>
    public async Task<bool> FlushAsync(TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        while (_queue.Count > 0 && !timeout.IsCancellationRequested)
        {
            await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
        }

        return _queue.Count == 0;
    }

    /// <summary>Stops publishing: announces offline (retained), disconnects, keeps what is unsent on disk.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await SessionOptions.CloseAsync(_client, ServiceStatus(online: false), _logger).ConfigureAwait(false);
        _client.Dispose();
        _queue.Dispose();
        _stop.Dispose();
        _connection.Dispose();
    }

    private Task RunAsync(CancellationToken stop) => SessionOptions.KeepConnectedAsync(_options, ConnectAsync, DrainAsync, e =>
    {
        var reason = Explain(e);
        if (reason != _lastError)
        {
            _logger.LogWarning("MQTT {Broker}: {Reason}. Results wait in the queue ({Count}) and are sent when the broker is back.", Broker, reason, _queue.Count);
        }

        Volatile.Write(ref _lastError, reason);
    }, () => Task.CompletedTask, stop);

    private string Broker => _options.UsesEmbeddedBroker ? $"127.0.0.1:{_options.EmbeddedBrokerPort} (embedded)" : $"{_options.Host}:{_options.Port}";

    private async Task ConnectAsync(CancellationToken stop)
    {
        if (_client.IsConnected)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(_options.ConnectTimeout);
        var result = await _client.ConnectAsync(BuildClientOptions(), timeout.Token).ConfigureAwait(false);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new MqttConnectingFailedException($"Connecting with MQTT server failed ({result.ResultCode}).", null);
        }

        if (_subscriptions.Count > 0)
        {
            var subscriptions = new MqttClientSubscribeOptionsBuilder();
            foreach (var (filter, _) in _subscriptions)
            {
                subscriptions.WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce);
            }

            await _client.SubscribeAsync(subscriptions.Build(), stop).ConfigureAwait(false);
        }

        Interlocked.Increment(ref _connects);
        var previous = Interlocked.Exchange(ref _connection, new CancellationTokenSource());
        previous.Dispose();
        await _client.PublishAsync(ServiceStatus(online: true), stop).ConfigureAwait(false);
        if (_lastError is not null)
        {
            _logger.LogInformation("MQTT {Broker}: connected; sending {Count} queued messages.", Broker, _queue.Count);
        }

        Volatile.Write(ref _lastError, null);
    }

    /// <summary>Sends queued messages in order with a window of unacknowledged ones; returns when the connection drops.</summary>
    private async Task DrainAsync(CancellationToken stop)
    {
        var window = new Queue<(Task<MqttClientPublishResult> Sent, long Position, string Topic)>();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (window.Count < _options.MaxInFlight && _queue.TryRead(out var record, out var position))
                {
                    var message = OutboundMessage.Decode(record);
                    window.Enqueue((_client.PublishAsync(ToMqtt(message), stop), position, message.Topic));
                    continue;
                }

                if (window.Count > 0)
                {
                    var (sent, at, topic) = window.Peek();
                    var result = await sent.ConfigureAwait(false);
                    window.Dequeue();
                    if (!result.IsSuccess)
                    {
                        // The broker took the message and refused it (not authorised, quota): resending would not help.
                        Interlocked.Increment(ref _rejected);
                        _logger.LogError("MQTT broker refused a message for {Topic}: {Reason}.", topic, result.ReasonCode);
                    }

                    _queue.Acknowledge(at);
                    Interlocked.Increment(ref _published);
                    continue;
                }

                if (!_client.IsConnected)
                {
                    throw new MqttCommunicationException("the connection to the broker was lost");
                }

                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stop, _connection.Token);
                idle.CancelAfter(_options.KeepAlive);
                try
                {
                    await _queue.WaitToReadAsync(idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    // Idle: loop to check the connection.
                }
            }
        }
        finally
        {
            if (window.Count > 0)
            {
                // Sent but not acknowledged: they go again after the reconnect (QoS 1 allows the duplicates).
                Interlocked.Add(ref _resent, window.Count);
                foreach (var (sent, _, _) in window)
                {
                    _ = sent.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
                }
            }

            _queue.Rewind();
        }
    }

    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        foreach (var (filter, handler) in _subscriptions)
        {
            if (MqttTopicFilterComparer.Compare(message.Topic, filter) == MqttTopicFilterCompareResult.IsMatch)
            {
                var sender = message.UserProperties?.LastOrDefault(p => p.Name == EmbeddedBroker.SenderProperty) is { } stamp ? System.Text.Encoding.UTF8.GetString(stamp.ValueBuffer.Span) : null;
                await handler(new InboundMessage(message.Topic, message.Payload.ToArray(), message.ResponseTopic, message.CorrelationData ?? [], sender)).ConfigureAwait(false);
                return;
            }
        }
    }

    private MqttApplicationMessage ToMqtt(OutboundMessage message)
    {
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(message.Topic)
            .WithPayload(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(message.Payload, out var segment) ? segment : new ArraySegment<byte>(message.Payload.ToArray()))
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)message.QualityOfService)
            .WithRetainFlag(message.Retain);
        if (_options.Protocol == MqttProtocol.V500)
        {
            builder.WithContentType("application/json");
            if (message.ExpirySeconds > 0)
            {
                builder.WithMessageExpiryInterval(message.ExpirySeconds);
            }

            foreach (var (key, value) in message.UserProperties)
            {
                builder.WithUserProperty(key, System.Text.Encoding.UTF8.GetBytes(value).AsMemory());
            }

            if (message.ResponseTopic is not null)
            {
                builder.WithResponseTopic(message.ResponseTopic);
            }

            if (!message.CorrelationData.IsEmpty)
            {
                builder.WithCorrelationData(message.CorrelationData.ToArray());
            }
        }

        return builder.Build();
    }

    private MqttApplicationMessage ServiceStatus(bool online) => new MqttApplicationMessageBuilder()
        .WithTopic(_topics.ServiceStatus)
        .WithPayload(ResultJson.ServiceStatus(online, _options.ClientId, online ? DateTimeOffset.UtcNow : _started))
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithRetainFlag()
        .Build();

    private MqttClientOptions BuildClientOptions() => SessionOptions.Build(_options, _options.ClientId)
        .WithCleanSession()
        .WithWillTopic(_topics.ServiceStatus)
        .WithWillPayload(ResultJson.ServiceStatus(online: false, _options.ClientId, _started))
        .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithWillRetain()
        .Build();

    private static string Explain(Exception e) => e switch
    {
        MqttConnectingFailedException f when f.Message.Contains(nameof(MqttClientConnectResultCode.BadUserNameOrPassword), StringComparison.Ordinal) ||
                                              f.Message.Contains(nameof(MqttClientConnectResultCode.NotAuthorized), StringComparison.Ordinal) =>
            "the broker refused the username or password; check Inspection:Mqtt:Username and the password",
        MqttConnectingFailedException f => $"the broker refused the connection: {f.Message}",
        _ when e.GetBaseException() is AuthenticationException tls =>
            $"the broker's TLS certificate is not trusted ({tls.Message}); give its certificate authority in Inspection:Mqtt:CaFile",
        _ when e.GetBaseException() is System.Net.Sockets.SocketException socket => $"cannot reach the broker ({socket.SocketErrorCode})",
        OperationCanceledException => "no answer from the broker in time",
        _ => e.GetBaseException().Message,
    };
}

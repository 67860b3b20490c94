using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Inspection.Core;
using Inspection.Messaging.Sparkplug.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Protocol;
using Metric = Inspection.Messaging.Sparkplug.Protobuf.Payload.Types.Metric;

namespace Inspection.Messaging.Sparkplug;

/// <summary>
/// The Sparkplug B 3.0 output for SCADA hosts such as Ignition: the worker is an edge node, each camera a device.
/// On every connection: NBIRTH (seq 0, a new bdSeq, Node Control/Rebirth), then a DBIRTH for each camera that
/// streams; a DDATA per inspected frame (or by exception); DDEATH when a camera stops streaming and DBIRTH when
/// it returns; NDEATH, the session's Will with the same bdSeq, when the node goes. Metrics are declared with an
/// alias in the births and sent by alias in DDATA. With a primary host configured the node publishes only while
/// that host's STATE is online. While the node cannot publish (no broker, a hung broker, the primary host offline)
/// it holds the data: its writer waits, so items wait in its buffer in the worker, whose policy drops the oldest
/// when it is full; once a new session is born the held frames go out as historical DDATA. An NCMD rebirth sends
/// the births again; a DCMD is refused (threshold changes over Sparkplug wait for authorisation).
/// </summary>
public sealed class SparkplugSink : IResultSink
{
    public const string Namespace = "spBv1.0";
    public const string RebirthMetric = "Node Control/Rebirth";
    public const string SinkName = "sparkplug";

    private readonly MqttOptions _mqtt;
    private readonly SparkplugOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Dictionary<string, SparkplugDevice> _devices = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private IMqttClient? _client;
    private Task? _loop;
    private ulong _bdSeq;
    private ulong _seq;
    private ulong _lastAlias;
    private bool _live;
    private TaskCompletionSource _becameLive = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DateTimeOffset _bornAt;
    private long _lastPing;
    private volatile bool _rebirth;
    private volatile bool _hostOnline;
    private long _hostStateTime = long.MinValue;
    private long _published;
    private long _commandsRefused;
    private int _disposed;

    public SparkplugSink(MqttOptions mqtt, SparkplugOptions options, ILogger? logger = null)
    {
        _mqtt = mqtt;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
    }

    public string Name => SinkName;

    public SinkBufferOptions Buffer => _options.Buffer;

    /// <summary>The bdSeq of the current (or last) session.</summary>
    public ulong BirthDeathSequence => _bdSeq;

    /// <summary>Born and publishing: connected, and the primary host (if any) online.</summary>
    public bool IsLive => Volatile.Read(ref _live);

    /// <summary>Sparkplug messages published.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>DCMD and unknown NCMD messages refused.</summary>
    public long CommandsRefused => Interlocked.Read(ref _commandsRefused);

    public string Topic(string type, string? device = null) =>
        $"{Namespace}/{_options.GroupId}/{type}/{_options.EdgeNodeId}{(device is null ? string.Empty : "/" + device)}";

    public Task StartAsync(CancellationToken cancel)
    {
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Publishes the item's data; while the node cannot publish, waits until a new session is born (holding the data).</summary>
    public async ValueTask WriteAsync(SinkItem item, CancellationToken cancel)
    {
        if (item.Kind is not (SinkItemKind.Result or SinkItemKind.CameraStatus))
        {
            return; // service events and replies have no Sparkplug form
        }

        while (true)
        {
            await _gate.WaitAsync(cancel).ConfigureAwait(false);
            Task becameLive;
            try
            {
                if (_live && HostAllows)
                {
                    await PublishItemAsync(item).ConfigureAwait(false);
                    return;
                }

                if (_live)
                {
                    NotLive(); // the primary host just went offline: its session is about to end
                }

                becameLive = _becameLive.Task;
            }
            finally
            {
                _gate.Release();
            }

            await becameLive.WaitAsync(cancel).ConfigureAwait(false);
        }
    }
    /// <summary>Sparkplug data goes out at QoS 0 as it comes: nothing waits to be flushed.</summary>
    public Task<bool> FlushAsync(TimeSpan deadline) => Task.FromResult(true);

    /// <summary>Publishes NDEATH and disconnects: a clean goodbye, which the broker does not turn into the Will.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // the worker's outputs and its service container both let go of it
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _becameLive.TrySetCanceled();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        if (_client is { } client)
        {
            await SessionOptions.CloseAsync(client, Message(Topic("NDEATH"), DeathPayload(), MqttQualityOfServiceLevel.AtLeastOnce), _logger).ConfigureAwait(false);
            client.Dispose();
        }

        _gate.Release();
        _stop.Dispose();
    }

    private bool HostAllows => _options.PrimaryHostId is null || _hostOnline;

    /// <summary>Under the gate, in a live session: the item's effect on its camera, and the DDATA, DBIRTH or DDEATH it calls for.</summary>
    private async Task PublishItemAsync(SinkItem item)
    {
        if (item.Kind == SinkItemKind.Result)
        {
            var result = item.Result!;
            var device = Device(result.CameraId);
            device.Apply(result);
            device.Alive |= result.Sequence > 0;
            if (_options.Reporting == SparkplugReporting.EveryFrame)
            {
                await PublishDeviceAsync(device, historical: result.CaptureTime < _bornAt, _stop.Token).ConfigureAwait(false);
            }

            return;
        }

        var status = item.Status!;
        var camera = Device(status.CameraId);
        var wasAlive = camera.Alive;
        camera.SetState(status.State);
        camera.Alive = status.State == SourceState.Streaming;
        if (wasAlive && !camera.Alive && camera.Born)
        {
            await PublishAsync(Topic("DDEATH", camera.Id), NewPayload(), MqttQualityOfServiceLevel.AtMostOnce, _stop.Token).ConfigureAwait(false);
            camera.Born = false;
        }
        else if (_options.Reporting == SparkplugReporting.EveryFrame)
        {
            await PublishDeviceAsync(camera, historical: false, _stop.Token).ConfigureAwait(false);
        }
    }

    private SparkplugDevice Device(string cameraId)
    {
        if (!_devices.TryGetValue(cameraId, out var device))
        {
            _devices[cameraId] = device = new SparkplugDevice(cameraId, () => ++_lastAlias);
        }

        return device;
    }

    /// <summary>
    /// DBIRTH for a streaming camera not yet born (or with metrics its birth lacked), else DDATA with what it has to
    /// say; <paramref name="historical"/> marks data held from before the session's birth (Sparkplug's is_historical).
    /// </summary>
    private async Task PublishDeviceAsync(SparkplugDevice device, bool historical, CancellationToken stop)
    {
        if (!device.Alive)
        {
            return;
        }

        if (!device.Born || device.HasUndeclared)
        {
            await PublishBirthAsync(device, stop).ConfigureAwait(false);
            return;
        }

        var changes = device.Changes(withPerFrame: _options.Reporting == SparkplugReporting.EveryFrame);
        if (changes.Count > 0)
        {
            if (historical)
            {
                changes.ForEach(m => m.IsHistorical = true);
            }

            var data = NewPayload();
            data.Metrics.AddRange(changes);
            await PublishAsync(Topic("DDATA", device.Id), data, MqttQualityOfServiceLevel.AtMostOnce, stop).ConfigureAwait(false);
        }
    }

    private async Task PublishBirthAsync(SparkplugDevice device, CancellationToken stop)
    {
        var birth = NewPayload();
        birth.Metrics.AddRange(device.Birth());
        await PublishAsync(Topic("DBIRTH", device.Id), birth, MqttQualityOfServiceLevel.AtMostOnce, stop).ConfigureAwait(false);
        device.Born = true;
    }

    private Task RunAsync(CancellationToken stop) => SessionOptions.KeepConnectedAsync(_mqtt, ConnectAsync, ServeSessionAsync,
        e => _logger.LogWarning("Sparkplug node {Group}/{Node}: {Reason}; reconnecting.", _options.GroupId, _options.EdgeNodeId, e.GetBaseException().Message),
        EndSessionAsync, stop);

    /// <summary>
    /// Births when the node may publish, rebirths on request, DDATA by exception, and a ping every keep-alive period
    /// (a hung broker takes QoS 0 data into its socket without a word: only an unanswered ping shows it); returns
    /// when the session must end.
    /// </summary>
    private async Task ServeSessionAsync(CancellationToken stop)
    {
        var born = false;
        while (_client!.IsConnected && !stop.IsCancellationRequested)
        {
            if (HostAllows && (!IsLive || _rebirth))
            {
                await BirthAsync(stop).ConfigureAwait(false);
                born = true;
            }
            else if (!HostAllows && born)
            {
                // Sparkplug 3.0: the primary host went offline; say goodbye and start a new session that waits for it.
                _logger.LogWarning("Sparkplug node {Node}: primary host {Host} is offline; holding data until it is back.", _options.EdgeNodeId, _options.PrimaryHostId);
                await SessionOptions.CloseAsync(_client, Message(Topic("NDEATH"), DeathPayload(), MqttQualityOfServiceLevel.AtLeastOnce), _logger).ConfigureAwait(false);
                return;
            }
            else if (IsLive && _options.Reporting == SparkplugReporting.ByException)
            {
                await PublishChangesAsync(stop).ConfigureAwait(false);
            }

            if (Environment.TickCount64 - Interlocked.Read(ref _lastPing) >= _mqtt.KeepAlive.TotalMilliseconds)
            {
                await PingAsync(stop).ConfigureAwait(false);
            }

            var wait = IsLive && _options.Reporting == SparkplugReporting.ByException && _options.DataInterval > TimeSpan.Zero ? _options.DataInterval : _mqtt.KeepAlive;
            await _wake.WaitAsync(wait, stop).ConfigureAwait(false);
        }
    }

    private async Task PingAsync(CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(_options.PublishTimeout);
        try
        {
            await _client!.PingAsync(timeout.Token).ConfigureAwait(false);
            Interlocked.Exchange(ref _lastPing, Environment.TickCount64);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            throw new MqttCommunicationException($"the broker did not answer a ping within {_options.PublishTimeout.TotalSeconds:0.#} s");
        }
    }

    private async Task ConnectAsync(CancellationToken stop)
    {
        _bdSeq = NextBdSeq();
        _hostOnline = false;
        Interlocked.Exchange(ref _lastPing, Environment.TickCount64);
        var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += OnMessageAsync;
        client.DisconnectedAsync += _ =>
        {
            Signal();
            return Task.CompletedTask;
        };
        await _gate.WaitAsync(stop).ConfigureAwait(false);
        _client = client;
        _gate.Release();
        var options = SessionOptions.Build(_mqtt, _mqtt.ClientId + "-sparkplug", _options.Host, _options.Port)
            .WithCleanSession()
            .WithWillTopic(Topic("NDEATH"))
            .WithWillPayload(DeathPayload().ToByteArray())
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(_mqtt.ConnectTimeout);
        await client.ConnectAsync(options, timeout.Token).ConfigureAwait(false);
        var subscriptions = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(Topic("NCMD"), MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter(Topic("DCMD") + "/+", MqttQualityOfServiceLevel.AtLeastOnce);
        if (_options.PrimaryHostId is { } host)
        {
            subscriptions.WithTopicFilter(StateTopic(host), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await client.SubscribeAsync(subscriptions.Build(), timeout.Token).ConfigureAwait(false);
        _logger.LogInformation("Sparkplug node {Group}/{Node} connected (bdSeq {BdSeq}){Waiting}.", _options.GroupId, _options.EdgeNodeId, _bdSeq,
            _options.PrimaryHostId is { } primary ? $"; waiting for primary host {primary} to be online" : string.Empty);
    }

    /// <summary>NBIRTH with seq 0 and the session's bdSeq, then a DBIRTH for every streaming camera.</summary>
    private async Task BirthAsync(CancellationToken stop)
    {
        await _gate.WaitAsync(stop).ConfigureAwait(false);
        try
        {
            _rebirth = false;
            _seq = 0;
            var node = NewPayload();
            node.Metrics.Add(BdSeqMetric());
            node.Metrics.Add(new Metric { Name = RebirthMetric, Alias = 0, Datatype = (uint)DataType.Boolean, BooleanValue = false, Timestamp = Now() });
            await PublishAsync(Topic("NBIRTH"), node, MqttQualityOfServiceLevel.AtMostOnce, stop).ConfigureAwait(false);
            foreach (var device in _devices.Values.Where(d => d.Alive))
            {
                await PublishBirthAsync(device, stop).ConfigureAwait(false);
            }

            _bornAt = DateTimeOffset.UtcNow;
            Volatile.Write(ref _live, true);
            _becameLive.TrySetResult();
            _logger.LogInformation("Sparkplug node {Group}/{Node} born (bdSeq {BdSeq}), {Devices} camera(s).", _options.GroupId, _options.EdgeNodeId, _bdSeq, _devices.Values.Count(d => d.Alive));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>By exception: one DDATA per camera with what changed since the last one.</summary>
    private async Task PublishChangesAsync(CancellationToken stop)
    {
        await _gate.WaitAsync(stop).ConfigureAwait(false);
        try
        {
            foreach (var device in _devices.Values)
            {
                await PublishDeviceAsync(device, historical: false, stop).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Leaves the session: nothing is live, every device needs a new birth, and the client is let go.</summary>
    private async Task EndSessionAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        NotLive();
        foreach (var device in _devices.Values)
        {
            device.Born = false;
        }

        var client = _client;
        _client = null;
        _gate.Release();

        // A hung broker can hold up a client's teardown: nothing waits for it.
        _ = Task.Run(() => client?.Dispose());
    }

    /// <summary>Publishes within <see cref="SparkplugOptions.PublishTimeout"/>; a broker that takes nothing for that long ends the session.</summary>
    private async Task PublishAsync(string topic, Payload payload, MqttQualityOfServiceLevel qos, CancellationToken stop)
    {
        var client = _client ?? throw new MqttCommunicationException("not connected");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(_options.PublishTimeout);
        try
        {
            await client.PublishAsync(Message(topic, payload, qos), timeout.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _published);
        }
        catch (Exception e) when (!stop.IsCancellationRequested && e is OperationCanceledException or MqttCommunicationException)
        {
            NotLive();
            Signal();
            throw new MqttCommunicationException(e is OperationCanceledException
                ? $"the broker took no message for {_options.PublishTimeout.TotalSeconds:0.#} s"
                : e.Message);
        }
    }

    /// <summary>Under the gate: the session can no longer publish; writers wait for the next birth.</summary>
    private void NotLive()
    {
        Volatile.Write(ref _live, false);
        if (_becameLive.Task.IsCompleted)
        {
            _becameLive = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var topic = e.ApplicationMessage.Topic;
        if (_options.PrimaryHostId is { } host && topic == StateTopic(host))
        {
            OnHostState(e.ApplicationMessage.Payload);
            return Task.CompletedTask;
        }

        try
        {
            var payload = Payload.Parser.ParseFrom(e.ApplicationMessage.Payload);
            if (topic == Topic("NCMD") && payload.Metrics.Any(m => m.Name == RebirthMetric && m.BooleanValue))
            {
                _logger.LogInformation("Sparkplug node {Node}: rebirth requested.", _options.EdgeNodeId);
                _rebirth = true;
                Signal();
                return Task.CompletedTask;
            }

            Interlocked.Increment(ref _commandsRefused);
            _logger.LogWarning("Sparkplug node {Node}: refused the command on {Topic} ({Metrics}): changes over Sparkplug need command authorisation, which this version does not have.",
                _options.EdgeNodeId, topic, string.Join(", ", payload.Metrics.Select(m => m.Name ?? $"alias {m.Alias}")));
        }
        catch (InvalidProtocolBufferException ex)
        {
            Interlocked.Increment(ref _commandsRefused);
            _logger.LogWarning("Sparkplug node {Node}: ignored a command on {Topic} that is not a Sparkplug B payload ({Reason}).", _options.EdgeNodeId, topic, ex.Message);
        }

        return Task.CompletedTask;
    }

    /// <summary>Sparkplug 3.0 STATE: {"online": bool, "timestamp": ms}; an older timestamp than one already seen is stale.</summary>
    private void OnHostState(System.Buffers.ReadOnlySequence<byte> payload)
    {
        try
        {
            using var json = JsonDocument.Parse(payload);
            var online = json.RootElement.GetProperty("online").GetBoolean();
            var timestamp = json.RootElement.TryGetProperty("timestamp", out var t) && t.TryGetInt64(out var ms) ? ms : long.MaxValue;
            if (timestamp < Interlocked.Read(ref _hostStateTime))
            {
                return;
            }

            Interlocked.Exchange(ref _hostStateTime, timestamp);
            if (online != _hostOnline)
            {
                _logger.LogInformation("Sparkplug primary host {Host} is {State}.", _options.PrimaryHostId, online ? "online" : "offline");
            }

            _hostOnline = online;
            Signal();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            _logger.LogWarning("Sparkplug node {Node}: the primary host's STATE is not {{\"online\": true|false, \"timestamp\": ms}}; ignored.", _options.EdgeNodeId);
        }
    }

    private static string StateTopic(string hostId) => $"{Namespace}/STATE/{hostId}";

    /// <summary>A payload with the node's next sequence number (0-255, wrapping over every message of a session) and the time.</summary>
    private Payload NewPayload() => new() { Timestamp = Now(), Seq = _seq++ % 256 };

    private Payload DeathPayload()
    {
        var death = new Payload { Timestamp = Now() };
        death.Metrics.Add(BdSeqMetric());
        return death;
    }

    private Metric BdSeqMetric() => new() { Name = "bdSeq", Datatype = (uint)DataType.UInt64, LongValue = _bdSeq, Timestamp = Now() };

    private static MqttApplicationMessage Message(string topic, Payload payload, MqttQualityOfServiceLevel qos) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload.ToByteArray()).WithQualityOfServiceLevel(qos).Build();

    private ulong NextBdSeq()
    {
        var last = File.Exists(_options.BdSeqFile) && ulong.TryParse(File.ReadAllText(_options.BdSeqFile).Trim(), out var stored) ? stored : 255;
        var next = (last + 1) % 256;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_options.BdSeqFile))!);
        File.WriteAllText(_options.BdSeqFile, next.ToString(CultureInfo.InvariantCulture));
        return next;
    }

    private void Signal()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    internal static ulong Now() => (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}

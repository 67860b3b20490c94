using Google.Protobuf;
using Inspection.Core;
using Inspection.Messaging.Sparkplug.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Protocol;
using Metric = Inspection.Messaging.Sparkplug.Protobuf.Payload.Types.Metric;

namespace Inspection.Messaging.Sparkplug;

/// <summary>
/// A Sparkplug B edge node for SCADA hosts such as Ignition: the service is the node, each camera a device.
/// On every connection it sends NBIRTH (seq 0, its bdSeq, Node Control/Rebirth) and a DBIRTH per camera; then
/// DDATA with the metrics that changed, at most every DataInterval; NDEATH (its Will, carrying the same bdSeq)
/// tells the host when the node is gone. A "Node Control/Rebirth" NCMD sends the births again.
/// </summary>
public sealed class SparkplugEdgeNode : IAsyncDisposable
{
    public const string Namespace = "spBv1.0";
    public const string RebirthMetric = "Node Control/Rebirth";

    private readonly MqttOptions _mqtt;
    private readonly SparkplugOptions _options;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DeviceMetrics> _devices = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changed = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private ulong _bdSeq;
    private ulong _seq;
    private volatile bool _rebirth;

    public SparkplugEdgeNode(MqttOptions mqtt, SparkplugOptions options, ILogger? logger = null)
    {
        _mqtt = mqtt;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnCommandAsync;
        _client.DisconnectedAsync += _ =>
        {
            Signal();
            return Task.CompletedTask;
        };
    }

    public string Topic(string type, string? device = null) =>
        $"{Namespace}/{_options.GroupId}/{type}/{_options.EdgeNodeId}{(device is null ? string.Empty : "/" + device)}";

    /// <summary>The bdSeq of the current (or last) session.</summary>
    public ulong BirthDeathSequence => _bdSeq;

    public bool IsConnected => _client.IsConnected;

    /// <summary>Declares a camera; after the node's birth it gets its own DBIRTH at once.</summary>
    public void AddCamera(string cameraId, string modelVersion)
    {
        lock (_gate)
        {
            if (!_devices.ContainsKey(cameraId))
            {
                _devices[cameraId] = new DeviceMetrics(cameraId) { ModelVersion = modelVersion };
            }
        }

        Signal();
    }

    /// <summary>Counts an inspection result: last verdict, frames, NG count, defects by class.</summary>
    public void Record(InspectionResult result)
    {
        lock (_gate)
        {
            var device = Device(result.CameraId);
            device.LastVerdict = ResultJson.VerdictText(result.Verdict);
            device.Frames++;
            device.ModelVersion = result.ModelVersion;
            if (result.Verdict == Verdict.Ng)
            {
                device.NgCount++;
                foreach (var detection in result.Detections)
                {
                    var name = result.ClassName(detection.ClassId);
                    device.DefectsByClass[name] = device.DefectsByClass.GetValueOrDefault(name) + 1;
                }
            }
        }

        Signal();
    }

    /// <summary>Updates a camera's state and measured frame rate.</summary>
    public void UpdateCamera(SourceStatus status, double framesPerSecond)
    {
        lock (_gate)
        {
            var device = Device(status.CameraId);
            device.State = status.State.ToString().ToLowerInvariant();
            device.FramesPerSecond = Math.Round(framesPerSecond, 2);
        }

        Signal();
    }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await SessionOptions.CloseAsync(_client, Message(Topic("NDEATH"), DeathPayload(), MqttQualityOfServiceLevel.AtLeastOnce), _logger).ConfigureAwait(false);
        _client.Dispose();
        _stop.Dispose();
    }

    private DeviceMetrics Device(string cameraId)
    {
        if (!_devices.TryGetValue(cameraId, out var device))
        {
            _devices[cameraId] = device = new DeviceMetrics(cameraId);
        }

        return device;
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var attempt = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await ConnectAndBirthAsync(stop).ConfigureAwait(false);
                attempt = 0;
                while (_client.IsConnected && !stop.IsCancellationRequested)
                {
                    await _changed.WaitAsync(_mqtt.KeepAlive, stop).ConfigureAwait(false);
                    if (_rebirth)
                    {
                        _rebirth = false;
                        await BirthAsync(stop).ConfigureAwait(false);
                    }

                    await PublishChangesAsync(stop).ConfigureAwait(false);
                    if (_options.DataInterval > TimeSpan.Zero)
                    {
                        await Task.Delay(_options.DataInterval, stop).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogWarning("Sparkplug node {Node}: {Reason}; reconnecting.", _options.EdgeNodeId, e.GetBaseException().Message);
            }

            var delay = Backoff.Delay(attempt++, _mqtt.ReconnectInitialDelay, _mqtt.ReconnectMaxDelay);
            try
            {
                await Task.Delay(delay, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ConnectAndBirthAsync(CancellationToken stop)
    {
        _bdSeq = NextBdSeq();
        var options = SessionOptions.Build(_mqtt, _mqtt.ClientId + "-sparkplug")
            .WithCleanSession()
            .WithWillTopic(Topic("NDEATH"))
            .WithWillPayload(DeathPayload().ToByteArray())
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        await _client.ConnectAsync(options, stop).ConfigureAwait(false);
        await _client.SubscribeAsync(
            new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(Topic("NCMD"), MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Topic("DCMD") + "/+", MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(),
            stop).ConfigureAwait(false);
        await BirthAsync(stop).ConfigureAwait(false);
        _logger.LogInformation("Sparkplug node {Group}/{Node} born (bdSeq {BdSeq}).", _options.GroupId, _options.EdgeNodeId, _bdSeq);
    }

    /// <summary>NBIRTH with seq 0, then a DBIRTH per camera with all its metrics.</summary>
    private async Task BirthAsync(CancellationToken stop)
    {
        List<(string Topic, Payload Payload)> births;
        lock (_gate)
        {
            _seq = 0;
            var node = NewPayload();
            node.Metrics.Add(Long("bdSeq", _bdSeq));
            node.Metrics.Add(new Metric { Name = RebirthMetric, Datatype = (uint)DataType.Boolean, BooleanValue = false, Timestamp = Now() });
            births = [(Topic("NBIRTH"), node)];
            foreach (var device in _devices.Values)
            {
                var birth = NewPayload();
                birth.Metrics.AddRange(device.All());
                device.MarkPublished();
                births.Add((Topic("DBIRTH", device.Id), birth));
            }
        }

        foreach (var (topic, payload) in births)
        {
            await _client.PublishAsync(Message(topic, payload, MqttQualityOfServiceLevel.AtMostOnce), stop).ConfigureAwait(false);
        }
    }

    /// <summary>DDATA per camera with only the metrics whose values changed; DBIRTH for cameras added since the birth.</summary>
    private async Task PublishChangesAsync(CancellationToken stop)
    {
        var messages = new List<(string Topic, Payload Payload)>();
        lock (_gate)
        {
            foreach (var device in _devices.Values)
            {
                if (!device.Born)
                {
                    var birth = NewPayload();
                    birth.Metrics.AddRange(device.All());
                    device.MarkPublished();
                    messages.Add((Topic("DBIRTH", device.Id), birth));
                    continue;
                }

                var changed = device.Changed();
                if (changed.Count > 0)
                {
                    var data = NewPayload();
                    data.Metrics.AddRange(changed);
                    device.MarkPublished();
                    messages.Add((Topic("DDATA", device.Id), data));
                }
            }
        }

        foreach (var (topic, payload) in messages)
        {
            await _client.PublishAsync(Message(topic, payload, MqttQualityOfServiceLevel.AtMostOnce), stop).ConfigureAwait(false);
        }
    }

    private Task OnCommandAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        try
        {
            var payload = Payload.Parser.ParseFrom(e.ApplicationMessage.Payload);
            if (payload.Metrics.Any(m => m.Name == RebirthMetric && m.BooleanValue))
            {
                _logger.LogInformation("Sparkplug node {Node}: rebirth requested.", _options.EdgeNodeId);
                _rebirth = true;
                Signal();
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            _logger.LogWarning("Sparkplug node {Node}: ignored a command on {Topic} that is not a Sparkplug B payload ({Reason}).", _options.EdgeNodeId, e.ApplicationMessage.Topic, ex.Message);
        }

        return Task.CompletedTask;
    }

    /// <summary>A payload with the node's next sequence number (0-255, wrapping) and the time.</summary>
    private Payload NewPayload() => new() { Timestamp = Now(), Seq = _seq++ % 256 };

    private Payload DeathPayload()
    {
        var death = new Payload { Timestamp = Now() };
        death.Metrics.Add(Long("bdSeq", _bdSeq));
        return death;
    }

    private static MqttApplicationMessage Message(string topic, Payload payload, MqttQualityOfServiceLevel qos) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload.ToByteArray()).WithQualityOfServiceLevel(qos).Build();

    private ulong NextBdSeq()
    {
        var last = File.Exists(_options.BdSeqFile) && ulong.TryParse(File.ReadAllText(_options.BdSeqFile).Trim(), out var stored) ? stored : 255;
        var next = (last + 1) % 256;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_options.BdSeqFile))!);
        File.WriteAllText(_options.BdSeqFile, next.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return next;
    }

    private void Signal()
    {
        if (_changed.CurrentCount == 0)
        {
            try
            {
                _changed.Release();
            }
            catch (SemaphoreFullException)
            {
            }
        }
    }

    internal static ulong Now() => (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    internal static Metric Long(string name, ulong value) => new() { Name = name, Datatype = (uint)DataType.UInt64, LongValue = value, Timestamp = Now() };
}

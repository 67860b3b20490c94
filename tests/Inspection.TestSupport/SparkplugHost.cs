using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Inspection.TestSupport;

/// <summary>
/// A Sparkplug B primary host for end-to-end tests of the worker's edge node. It shares nothing with the project's
/// generated protobuf code: payloads are decoded by Debian's <c>protoc --decode_raw</c> and read by the field numbers
/// of Eclipse Tahu's sparkplug_b.proto, and the one payload it sends (the rebirth NCMD) is encoded by hand. A schema
/// mistake in the project's .proto therefore fails these tests instead of being repeated on both ends.
/// </summary>
/// <remarks>
/// It records every message of its group in arrival order. Decoding runs one protoc process a message on a
/// background task, in order, so MQTTnet's receive callback only queues. Aliases are learned from NBIRTH/DBIRTH as a
/// host must, so <see cref="SparkplugMessage.NameOf"/> names a DDATA metric that carries only its alias.
/// </remarks>
public sealed class SparkplugHost : IAsyncDisposable
{
    private const string Namespace = "spBv1.0";
    private static readonly string[] MessageTypes = ["NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD"];

    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly int _port;
    private readonly string _group;
    private readonly string _hostId;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<Arrival> _arrivals = Channel.CreateUnbounded<Arrival>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<SparkplugMessage> _messages = [];
    private readonly Dictionary<(string Node, string? Device), IReadOnlyDictionary<ulong, string>> _aliases = [];
    private readonly Task _decoder;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _failure;
    private long _arrived;
    private volatile bool _online;

    /// <summary>The STATE timestamp of the current MQTT session: Sparkplug 3.0 wants the birth and the Will to carry the same one.</summary>
    private long _stateTimestamp;

    private SparkplugHost(int port, string group, string hostId)
    {
        _port = port;
        _group = group;
        _hostId = hostId;
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            _arrivals.Writer.TryWrite(new Arrival(Interlocked.Increment(ref _arrived) - 1, m.Topic, m.Payload.ToArray(), m.Retain, m.QualityOfServiceLevel));
            return Task.CompletedTask;
        };
        _client.DisconnectedAsync += async e =>
        {
            if (!e.ClientWasConnected)
            {
                return; // a failed attempt of the loop below, or of the first connect, which throws to its caller
            }

            // Reconnects like a real host, so a test may restart the broker under it.
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(200, _stop.Token);
                    await ConnectAsync();
                    return;
                }
                catch (Exception)
                {
                    // The broker is still away (or the host was disposed, which ends the loop).
                }
            }
        };
        _decoder = Task.Run(DecodeArrivalsAsync);
    }

    /// <summary>The topic of this host's STATE (Sparkplug 3.0: no group in it).</summary>
    public string StateTopic => $"{Namespace}/STATE/{_hostId}";

    /// <summary>The messages decoded so far, in arrival order (a copy).</summary>
    public IReadOnlyList<SparkplugMessage> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    /// <summary>
    /// Connects with MQTT 3.1.1 and a clean session as client <paramref name="hostId"/>, with the Will a primary host
    /// registers (STATE offline, retained), and subscribes to all of <paramref name="group"/> at QoS 1, so a recorded
    /// message's QoS is the one its publisher used. It does not announce itself online: see <see cref="PublishStateAsync"/>.
    /// </summary>
    public static async Task<SparkplugHost> StartAsync(int port, string group, string hostId = "test-host")
    {
        var host = new SparkplugHost(port, group, hostId);
        try
        {
            await host.ConnectAsync();
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }

        return host;
    }

    /// <summary>
    /// The first message (already recorded or still to come) that matches, for instance
    /// <c>m =&gt; m.Type == "DBIRTH" &amp;&amp; m.Order &gt; before</c>. Fails at once when a message could not be decoded.
    /// </summary>
    public async Task<SparkplugMessage> WaitForAsync(Func<SparkplugMessage, bool> match, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Task changed;
            lock (_messages)
            {
                if (_failure is not null)
                {
                    throw new InvalidOperationException($"waiting for {what}, a message could not be read: {_failure.Message}", _failure);
                }

                if (_messages.FirstOrDefault(match) is { } found)
                {
                    return found;
                }

                changed = _changed.Task;
            }

            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero || await Task.WhenAny(changed, Task.Delay(left)) != changed)
            {
                throw new TimeoutException($"{what} did not arrive within {timeout.TotalSeconds:0.#} s; received: {string.Join(", ", Messages.TakeLast(30))}");
            }
        }
    }

    /// <summary>
    /// Publishes the Sparkplug 3.0 STATE on <see cref="StateTopic"/> (retained, QoS 1, JSON with the session's
    /// timestamp). After <c>true</c> it is published again on every reconnect, and <c>false</c> is published before a
    /// clean disconnect, as a primary host must.
    /// </summary>
    public async Task PublishStateAsync(bool online)
    {
        _online = online;
        await _client.PublishAsync(StateMessage(online, Interlocked.Read(ref _stateTimestamp)));
    }

    /// <summary>Asks an edge node of this host's group to send its births again: an NCMD with "Node Control/Rebirth" true (QoS 0, not retained, as the specification wants).</summary>
    public Task RebirthAsync(string edgeNode)
    {
        var payload = EncodeNodeCommand("Node Control/Rebirth", true, (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"{Namespace}/{_group}/NCMD/{edgeNode}").WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce).Build());
    }

    /// <summary>
    /// A Payload with the timestamp and one Boolean metric (name, timestamp, datatype 11, boolean_value), written
    /// field by field by Tahu's numbers: Payload.timestamp 1, metrics 2; Metric.name 1, timestamp 3, datatype 4, boolean_value 14.
    /// </summary>
    public static byte[] EncodeNodeCommand(string metric, bool value, ulong timestamp)
    {
        var body = new ProtoWriter();
        body.String(1, metric);
        body.Varint(3, timestamp);
        body.Varint(4, 11); // Boolean
        body.Varint(14, value ? 1ul : 0ul);

        var payload = new ProtoWriter();
        payload.Varint(1, timestamp);
        payload.LengthDelimited(2, body.ToArray());
        return payload.ToArray();
    }

    /// <summary>
    /// Decodes a Sparkplug B payload with <c>protoc --decode_raw</c> and reads the fields an edge node with scalar
    /// metrics uses by Tahu's numbers; metadata, property sets, data sets, templates, uuid and body are skipped.
    /// </summary>
    public static RawPayload Decode(byte[] payload) => RawText.Decode(RunProtoc(payload));

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        if (_client.IsConnected)
        {
            if (_online)
            {
                await _client.PublishAsync(StateMessage(false, Interlocked.Read(ref _stateTimestamp)));
            }

            await _client.DisconnectAsync();
        }

        _client.Dispose();
        _arrivals.Writer.TryComplete();
        await _decoder;
    }

    private static string RunProtoc(byte[] payload)
    {
        var start = new ProcessStartInfo("protoc") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--decode_raw");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("protoc did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.BaseStream.Write(payload);
        process.StandardInput.Close();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new FormatException($"protoc --decode_raw exited with {process.ExitCode} on {Convert.ToHexString(payload)}: {error.Result.Trim()}");
        }

        return output.Result;
    }

    private static string StatePayload(bool online, long timestamp) => JsonSerializer.Serialize(new { online, timestamp });

    private MqttApplicationMessage StateMessage(bool online, long timestamp) =>
        new MqttApplicationMessageBuilder()
            .WithTopic(StateTopic)
            .WithPayload(StatePayload(online, timestamp))
            .WithRetainFlag()
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();

    private async Task ConnectAsync()
    {
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Interlocked.Exchange(ref _stateTimestamp, timestamp);
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", _port).WithClientId(_hostId)
            .WithProtocolVersion(MqttProtocolVersion.V311).WithCleanSession()
            .WithWillTopic(StateTopic).WithWillPayload(StatePayload(false, timestamp)).WithWillRetain().WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        await _client.ConnectAsync(options, _stop.Token);
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter($"{Namespace}/{_group}/#", MqttQualityOfServiceLevel.AtLeastOnce).Build(), _stop.Token);
        if (_online)
        {
            await PublishStateAsync(true);
        }
    }

    private async Task DecodeArrivalsAsync()
    {
        try
        {
            await foreach (var arrival in _arrivals.Reader.ReadAllAsync(_stop.Token))
            {
                SparkplugMessage message;
                try
                {
                    message = Read(arrival);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    lock (_messages)
                    {
                        _failure ??= new FormatException($"{arrival.Topic} (#{arrival.Order}): {e.Message}", e);
                        Pulse();
                    }

                    continue;
                }

                lock (_messages)
                {
                    _messages.Add(message);
                    Pulse();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed: what is still queued is of no interest any more.
        }
    }

    /// <summary>Wakes the waiters; called under the lock.</summary>
    private void Pulse()
    {
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private SparkplugMessage Read(Arrival arrival)
    {
        var parts = arrival.Topic.Split('/'); // spBv1.0/group/TYPE/node[/device]
        if (parts.Length is not (4 or 5) || !MessageTypes.Contains(parts[2]))
        {
            throw new FormatException("not a Sparkplug B edge node topic");
        }

        var (type, node, device) = (parts[2], parts[3], parts.Length == 5 ? parts[4] : null);
        if ((type[0] == 'N' && device is not null) || (type[0] == 'D' && device is null))
        {
            throw new FormatException($"{type} with{(device is null ? "out" : string.Empty)} a device id");
        }

        var payload = Decode(arrival.Payload);
        if (type is "NBIRTH" or "DBIRTH")
        {
            if (type == "NBIRTH")
            {
                // A new session of the node: its devices' aliases are void until their own DBIRTHs.
                foreach (var key in _aliases.Keys.Where(k => k.Node == node).ToList())
                {
                    _aliases.Remove(key);
                }
            }

            _aliases[(node, device)] = payload.Metrics.Where(m => m is { Alias: not null, Name: not null }).ToDictionary(m => m.Alias!.Value, m => m.Name!);
        }

        var aliases = _aliases.GetValueOrDefault((node, device)) ?? new Dictionary<ulong, string>();
        return new SparkplugMessage(arrival.Order, arrival.Topic, type, node, device, arrival.Retain, arrival.QoS, arrival.Payload, payload, aliases);
    }

    private sealed record Arrival(long Order, string Topic, byte[] Payload, bool Retain, MqttQualityOfServiceLevel QoS);

    /// <summary>The protobuf wire format, as much as one command payload needs.</summary>
    private sealed class ProtoWriter
    {
        private readonly List<byte> _bytes = [];

        public void Varint(int field, ulong value)
        {
            Raw((ulong)field << 3);
            Raw(value);
        }

        public void String(int field, string value) => LengthDelimited(field, Encoding.UTF8.GetBytes(value));

        public void LengthDelimited(int field, byte[] value)
        {
            Raw(((ulong)field << 3) | 2);
            Raw((ulong)value.Length);
            _bytes.AddRange(value);
        }

        public byte[] ToArray() => [.. _bytes];

        private void Raw(ulong value)
        {
            for (; value >= 0x80; value >>= 7)
            {
                _bytes.Add((byte)(value | 0x80));
            }

            _bytes.Add((byte)value);
        }
    }
}

/// <summary>One message of the group as the host received it; <see cref="Order"/> counts arrivals from 0.</summary>
public sealed class SparkplugMessage
{
    private readonly IReadOnlyDictionary<ulong, string> _aliases;

    internal SparkplugMessage(long order, string topic, string type, string edgeNode, string? device, bool retain, MqttQualityOfServiceLevel qos, byte[] bytes, RawPayload payload, IReadOnlyDictionary<ulong, string> aliases)
    {
        Order = order;
        Topic = topic;
        Type = type;
        EdgeNode = edgeNode;
        Device = device;
        Retain = retain;
        QoS = qos;
        Bytes = bytes;
        Payload = payload;
        _aliases = aliases;
    }

    public long Order { get; }

    public string Topic { get; }

    /// <summary>NBIRTH, NDEATH, DBIRTH, DDEATH, NDATA, DDATA, NCMD or DCMD.</summary>
    public string Type { get; }

    public string EdgeNode { get; }

    /// <summary>The device id for D* messages, null for N* messages.</summary>
    public string? Device { get; }

    public bool Retain { get; }

    /// <summary>The QoS as delivered to a QoS 1 subscription: the publisher's, for QoS 0 and 1.</summary>
    public MqttQualityOfServiceLevel QoS { get; }

    /// <summary>The payload as received, for a second opinion from another decoder.</summary>
    public byte[] Bytes { get; }

    public RawPayload Payload { get; }

    /// <summary>The metric's name, or the name its alias had in the last birth of this node or device before this message.</summary>
    public string NameOf(RawMetric metric) =>
        metric.Name
        ?? (metric.Alias is { } alias && _aliases.TryGetValue(alias, out var name)
            ? name
            : throw new InvalidOperationException($"{this}: a metric with neither a name nor an alias that a birth before it defined (alias {metric.Alias})"));

    /// <summary>The metric called <paramref name="name"/>, by name or by alias; null when the message has none.</summary>
    public RawMetric? Metric(string name) => Payload.Metrics.SingleOrDefault(m => NameOf(m) == name);

    public override string ToString() => $"#{Order} {Type} {EdgeNode}{(Device is null ? string.Empty : "/" + Device)} seq {Payload.Seq?.ToString(CultureInfo.InvariantCulture) ?? "-"}";
}

/// <summary>Sparkplug B Payload fields 1 timestamp, 2 metrics and 3 seq, as protoc showed them.</summary>
public sealed record RawPayload(ulong? Timestamp, ulong? Seq, IReadOnlyList<RawMetric> Metrics);

/// <summary>
/// A Sparkplug B Metric by Tahu's field numbers. The value fields are a oneof, so at most one is set: int_value (10,
/// uint32, cut to 32 bits as a protobuf parser does; an Int32 metric's negative values read back with
/// <c>(int)(uint)</c>) and long_value (11) both land in <see cref="IntOrLong"/>.
/// </summary>
public sealed class RawMetric
{
    public string? Name { get; internal set; }

    public ulong? Alias { get; internal set; }

    public ulong? Timestamp { get; internal set; }

    public uint? Datatype { get; internal set; }

    public bool IsNull { get; internal set; }

    public ulong? IntOrLong { get; internal set; }

    public float? Float { get; internal set; }

    public double? Double { get; internal set; }

    public bool? Boolean { get; internal set; }

    public string? String { get; internal set; }

    internal void ClearValue()
    {
        IntOrLong = null;
        Float = null;
        Double = null;
        Boolean = null;
        String = null;
    }
}

/// <summary>
/// Reads the text of <c>protoc --decode_raw</c> (protoc 3.21): <c>N: 123</c> for a varint (the unsigned 64-bit
/// value in decimal), <c>N: 0x3ff0000000000000</c> for a fixed64 (16 hex digits) and <c>N: 0x3fc00000</c> for a
/// fixed32 (8), <c>N: "..."</c> for length-delimited bytes with C escapes (octal for non-ASCII), and <c>N {</c> ...
/// <c>}</c> for a group or for length-delimited bytes that happen to parse as a message, which protoc prefers.
/// </summary>
internal static class RawText
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private abstract record Node(int Field);

    private sealed record VarintNode(int Field, ulong Value) : Node(Field);

    private sealed record Fixed32Node(int Field, uint Value) : Node(Field);

    private sealed record Fixed64Node(int Field, ulong Value) : Node(Field);

    private sealed record BytesNode(int Field, byte[] Value) : Node(Field);

    private sealed record BlockNode(int Field, List<Node> Children) : Node(Field);

    public static RawPayload Decode(string protocOutput) => ReadPayload(Parse(protocOutput));

    private static List<Node> Parse(string text)
    {
        var root = new List<Node>();
        var current = root;
        var parents = new Stack<List<Node>>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line == "}")
            {
                current = parents.Count > 0 ? parents.Pop() : throw new FormatException("protoc output: '}' without '{'");
            }
            else if (line.EndsWith(" {", StringComparison.Ordinal))
            {
                var block = new BlockNode(Field(line[..^2]), []);
                current.Add(block);
                parents.Push(current);
                current = block.Children;
            }
            else
            {
                var colon = line.IndexOf(": ", StringComparison.Ordinal);
                if (colon < 0)
                {
                    throw new FormatException($"protoc output: unexpected line '{line}'");
                }

                current.Add(Scalar(Field(line[..colon]), line[(colon + 2)..]));
            }
        }

        return parents.Count == 0 ? root : throw new FormatException("protoc output: unclosed '{'");
    }

    private static RawPayload ReadPayload(List<Node> fields)
    {
        ulong? timestamp = null, seq = null;
        var metrics = new List<RawMetric>();
        foreach (var field in fields)
        {
            switch (field.Field)
            {
                case 1:
                    timestamp = Varint(field);
                    break;
                case 2:
                    metrics.Add(field switch
                    {
                        BlockNode block => ReadMetric(block.Children),
                        BytesNode { Value.Length: 0 } => new RawMetric(), // an empty message prints as ""
                        _ => throw new FormatException($"metric: field 2 is not a message ({field})"),
                    });
                    break;
                case 3:
                    seq = Varint(field);
                    break;
            }
        }

        return new RawPayload(timestamp, seq, metrics);
    }

    private static RawMetric ReadMetric(List<Node> fields)
    {
        var metric = new RawMetric();
        foreach (var field in fields)
        {
            switch (field.Field)
            {
                case 1:
                    metric.Name = String(field);
                    break;
                case 2:
                    metric.Alias = Varint(field);
                    break;
                case 3:
                    metric.Timestamp = Varint(field);
                    break;
                case 4:
                    metric.Datatype = (uint)Varint(field);
                    break;
                case 7:
                    metric.IsNull = Varint(field) != 0;
                    break;
                case 10:
                    metric.ClearValue();
                    metric.IntOrLong = (uint)Varint(field);
                    break;
                case 11:
                    metric.ClearValue();
                    metric.IntOrLong = Varint(field);
                    break;
                case 12:
                    metric.ClearValue();
                    metric.Float = field is Fixed32Node f ? BitConverter.Int32BitsToSingle((int)f.Value) : throw WireType(field, "fixed32");
                    break;
                case 13:
                    metric.ClearValue();
                    metric.Double = field is Fixed64Node d ? BitConverter.Int64BitsToDouble((long)d.Value) : throw WireType(field, "fixed64");
                    break;
                case 14:
                    metric.ClearValue();
                    metric.Boolean = Varint(field) != 0;
                    break;
                case 15:
                    metric.ClearValue();
                    metric.String = String(field);
                    break;
            }
        }

        return metric;
    }

    private static ulong Varint(Node field) => field is VarintNode v ? v.Value : throw WireType(field, "varint");

    private static string String(Node field) => field switch
    {
        BytesNode b => StrictUtf8.GetString(b.Value),
        BlockNode block => Recover(block),
        _ => throw WireType(field, "string"),
    };

    /// <summary>
    /// The text of a string field that protoc printed as a nested message ("01" shows as <c>{ 6: 49 }</c>): the
    /// fields written back to bytes. A nested block may have been length-delimited or a group, so every reading is
    /// tried and the one that is UTF-8 (and, if several are, the one without control characters) is taken; the
    /// bytes are exact for text without NUL characters, whose varints are all minimal.
    /// </summary>
    private static string Recover(BlockNode block)
    {
        var readings = Encodings(block.Children).Where(IsUtf8).ToList();
        if (readings.Count > 1)
        {
            readings = readings.Where(r => !StrictUtf8.GetString(r).Any(c => char.IsControl(c) && c is not ('\t' or '\n' or '\r'))).ToList();
        }

        return readings.Count == 1
            ? StrictUtf8.GetString(readings[0])
            : throw new FormatException($"field {block.Field}: protoc printed a string as a nested message and {readings.Count} texts fit it");
    }

    private static List<byte[]> Encodings(List<Node> fields)
    {
        List<byte[]> readings = [[]];
        foreach (var field in fields)
        {
            var options = Encodings(field);
            readings = [.. readings.SelectMany(r => options.Select(o => (byte[])[.. r, .. o]))];
            if (readings.Count > 256)
            {
                throw new FormatException("protoc printed a string as a nested message too ambiguous to read back");
            }
        }

        return readings;
    }

    private static List<byte[]> Encodings(Node field) => field switch
    {
        VarintNode v => [[.. Key(v.Field, 0), .. Varint(v.Value)]],
        Fixed64Node f => [[.. Key(f.Field, 1), .. LittleEndian(f.Value)]],
        Fixed32Node f => [[.. Key(f.Field, 5), .. LittleEndian(f.Value)]],
        BytesNode b => [[.. Key(b.Field, 2), .. Varint((ulong)b.Value.Length), .. b.Value]],
        BlockNode block => [.. BlockEncodings(block)],
        _ => throw new UnreachableException(),
    };

    private static IEnumerable<byte[]> BlockEncodings(BlockNode block)
    {
        foreach (var inner in Encodings(block.Children))
        {
            yield return [.. Key(block.Field, 3), .. inner, .. Key(block.Field, 4)];
            if (inner.Length > 0) // empty length-delimited bytes print as "", so an empty block was a group
            {
                yield return [.. Key(block.Field, 2), .. Varint((ulong)inner.Length), .. inner];
            }
        }
    }

    private static byte[] LittleEndian(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] LittleEndian(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] Key(int field, int wireType) => Varint(((ulong)field << 3) | (uint)wireType);

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        for (; value >= 0x80; value >>= 7)
        {
            bytes.Add((byte)(value | 0x80));
        }

        bytes.Add((byte)value);

        // protoc keeps only 64 bits of a tenth byte, so such a varint inside a string may not be the text's bytes.
        return bytes.Count < 10 ? [.. bytes] : throw new FormatException("protoc printed a string as a nested message with a 10-byte varint");
    }

    private static bool IsUtf8(byte[] bytes)
    {
        try
        {
            StrictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static FormatException WireType(Node field, string expected) => new($"field {field.Field}: expected a {expected}, protoc showed {field}");

    private static int Field(string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var field) ? field : throw new FormatException($"protoc output: field number '{text}'");

    private static Node Scalar(int field, string value)
    {
        if (value.StartsWith('"'))
        {
            return value.Length >= 2 && value.EndsWith('"') ? new BytesNode(field, Unescape(value[1..^1])) : throw new FormatException($"protoc output: string {value}");
        }

        if (value.StartsWith("0x", StringComparison.Ordinal))
        {
            var hex = value[2..];
            return hex.Length switch
            {
                8 => new Fixed32Node(field, uint.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)),
                16 => new Fixed64Node(field, ulong.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)),
                _ => throw new FormatException($"protoc output: fixed value {value}"),
            };
        }

        return new VarintNode(field, ulong.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture));
    }

    /// <summary>Undoes protobuf's CEscape: \n \r \t \" \' \\ and three-digit octal for every other byte outside printable ASCII.</summary>
    private static byte[] Unescape(string text)
    {
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                bytes.Add(text[i] < 0x80 ? (byte)text[i] : throw new FormatException("protoc output: a raw non-ASCII character"));
                continue;
            }

            var c = i + 1 < text.Length ? text[++i] : throw new FormatException("protoc output: a string ending in '\\'");
            switch (c)
            {
                case 'n': bytes.Add((byte)'\n'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case '"' or '\'' or '\\': bytes.Add((byte)c); break;
                case >= '0' and <= '7':
                    var value = c - '0';
                    for (var digits = 1; digits < 3 && i + 1 < text.Length && text[i + 1] is >= '0' and <= '7'; digits++)
                    {
                        value = (value * 8) + (text[++i] - '0');
                    }

                    bytes.Add((byte)value);
                    break;
                default: throw new FormatException($"protoc output: escape '\\{c}'");
            }
        }

        return [.. bytes];
    }
}

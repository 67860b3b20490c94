using System.Buffers;
using Inspection.Core;

namespace Inspection.Messaging;

/// <summary>
/// The JSON-over-MQTT output (docs/mqtt.md): results on each camera's result topic (NG ones on its defect topic
/// too), retained camera states, service events, and replies to requests that came in over the same session.
/// Everything goes through the session's durable queue, so a broker outage loses nothing; writing here costs an
/// append to a local file, which is why its buffer blocks rather than drops by default. A result whose frame is kept
/// names its evidence, with a URL under <paramref name="evidenceBaseUrl"/> when the worker's web view has one.
/// </summary>
public sealed class JsonResultSink(MqttSession session, TimeProvider? clock = null, string? evidenceBaseUrl = null) : IResultSink
{
    public const string SinkName = "mqtt";

    private readonly ArrayBufferWriter<byte> _json = new(4096);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public string Name => SinkName;

    public SinkBufferOptions Buffer => session.Options.Buffer;

    public Task StartAsync(CancellationToken cancel) => Task.CompletedTask; // the session is started by its owner

    public ValueTask WriteAsync(SinkItem item, CancellationToken cancel) => item.Kind switch
    {
        SinkItemKind.Result or SinkItemKind.CameraStatus when !session.Options.JsonResults => ValueTask.CompletedTask,
        SinkItemKind.Result => Ignore(WriteResultAsync(item.Result!, item.ReplyTo is { Sink: SinkName } reply ? reply : null, cancel)),
        SinkItemKind.CameraStatus => Ignore(session.EnqueueAsync(Message(session.Topics.CameraStatus(item.Status!.CameraId), ResultJson.CameraStatus(item.Status), retain: true, [new("camera", item.Status.CameraId)]) with { ExpirySeconds = 0 }, cancel)),
        SinkItemKind.ServiceEvent => Ignore(session.EnqueueAsync(new OutboundMessage { Topic = session.Topics.ServiceEvent(item.Event!.Kind), Payload = item.Event.Json }, cancel)),
        SinkItemKind.Reply when item.ReplyTo is { Sink: SinkName } to => Ignore(session.EnqueueAsync(new OutboundMessage { Topic = to.Reply, Payload = item.ReplyJson, CorrelationData = to.CorrelationData }, cancel)),
        _ => ValueTask.CompletedTask, // a reply for another sink
    };

    public Task<bool> FlushAsync(TimeSpan deadline) => session.FlushAsync(deadline);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the session belongs to its owner

    /// <summary>
    /// Queues a result on its camera's result topic, and on the defect topic when it is NG; a triggered result carries
    /// the trigger's MQTT 5 correlation data and also goes to the trigger's response topic, if it named one. False
    /// when the full queue's policy dropped a message.
    /// </summary>
    public async ValueTask<bool> WriteResultAsync(InspectionResult result, ReplyAddress? reply = null, CancellationToken cancel = default)
    {
        _json.ResetWrittenCount();
        ResultJson.WriteResult(_json, result, _clock.GetUtcNow(), evidenceBaseUrl);
        var payload = _json.WrittenSpan.ToArray();
        IReadOnlyList<KeyValuePair<string, string>> properties =
            [new("camera", result.CameraId), new("modelVersion", result.ModelVersion), new("verdict", ResultJson.VerdictText(result.Verdict))];
        var correlation = reply?.CorrelationData ?? default;
        var accepted = await session.EnqueueAsync(Message(session.Topics.Result(result.CameraId), payload, retain: false, properties) with { CorrelationData = correlation }, cancel).ConfigureAwait(false);
        if (result.Verdict == Verdict.Ng)
        {
            accepted &= await session.EnqueueAsync(Message(session.Topics.Defect(result.CameraId), payload, retain: false, properties) with { CorrelationData = correlation }, cancel).ConfigureAwait(false);
        }

        if (reply?.Results is { } responseTopic)
        {
            accepted &= await session.EnqueueAsync(Message(responseTopic, payload, retain: false, properties) with { CorrelationData = correlation }, cancel).ConfigureAwait(false);
        }

        return accepted;
    }

    private OutboundMessage Message(string topic, byte[] payload, bool retain, IReadOnlyList<KeyValuePair<string, string>> properties) => new()
    {
        Topic = topic,
        Payload = payload,
        QualityOfService = session.Options.QualityOfService,
        Retain = retain,
        ExpirySeconds = session.Options.MessageExpirySeconds,
        UserProperties = properties,
    };

    /// <summary>The queue logs and counts what its full policy drops; the sink has nothing to add.</summary>
    private static async ValueTask Ignore(ValueTask<bool> enqueued) => await enqueued.ConfigureAwait(false);
}

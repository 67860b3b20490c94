using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Inspection.Core;
using Inspection.Messaging;
using Inspection.Worker.Configuration;
using Inspection.Worker.Output;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Control;

/// <summary>
/// Requests that arrive over the MQTT session. Triggers on {line}/{camera}/trigger go to the trigger desk at once.
/// Commands on {line}/cmd/{name} and {line}/{camera}/cmd/{name} wait in a bounded queue and run one at a time,
/// each within its time, off MQTT's receive loop, so a slow command never delays a trigger. Every request is
/// identified and authorised (<see cref="CommandAuthority"/>), every command audited, and replies go back through
/// the JSON sink by the MQTT reply rule (<see cref="MqttTopics.ReplyTo"/>) to the line's own tree or an allowed
/// response topic only. Subscribed before the session connects.
/// </summary>
public sealed class MqttRequests : BackgroundService
{
    private readonly MqttSession _session;
    private readonly TriggerDesk _triggers;
    private readonly CommandRouter _commands;
    private readonly CommandGate _gate;
    private readonly CommandAuthority _authority;
    private readonly AuditLog _audit;
    private readonly SinkFanOut _sinks;
    private readonly AccessOptions _access;
    private readonly Channel<InboundMessage> _queue;

    public MqttRequests(MessagingHost messaging, TriggerDesk triggers, CommandRouter commands, CommandGate gate, CommandAuthority authority, AuditLog audit, SinkFanOut sinks, IOptions<InspectionOptions> options)
    {
        (_session, _triggers, _commands, _gate, _authority, _audit, _sinks, _access) = (messaging.Session, triggers, commands, gate, authority, audit, sinks, options.Value.Access);
        _queue = Channel.CreateBounded<InboundMessage>(new BoundedChannelOptions(_access.CommandQueueCapacity) { SingleReader = true });
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var topics = _session.Topics;
        _commands.Register("ping", (_, _) => Task.FromResult<JsonNode?>(new JsonObject
        {
            ["clientId"] = _session.Options.ClientId,
            ["queued"] = _session.Counters.QueueDepth,
            ["time"] = DateTimeOffset.UtcNow.UtcDateTime,
        }), steers: false);
        _session.Subscribe(topics.AllTriggers, OnTriggerAsync);
        foreach (var filter in topics.CommandFilters)
        {
            _session.Subscribe(filter, OnCommandAsync);
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var message in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                await RunAsync(message, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: commands still waiting are not run.
        }
    }

    private async Task OnTriggerAsync(InboundMessage message)
    {
        var camera = _session.Topics.TriggerCamera(message.Topic) ?? string.Empty;
        var requester = _authority.Sender(message.Sender);
        try
        {
            CommandAuthority.AuthorizeTrigger(requester);
            await _triggers.HandleAsync(camera, message.Payload, ReplyTo(message)).ConfigureAwait(false);
        }
        catch (InspectionInputException e)
        {
            await _sinks.PublishAsync(SinkItem.ForReply(DefaultReply(message), JsonSerializer.SerializeToUtf8Bytes(new { ok = false, error = e.Message }))).ConfigureAwait(false);
            await _audit.RecordAsync("mqtt", requester, "trigger", camera, "refused", e.Message).ConfigureAwait(false);
        }
    }

    /// <summary>Queues the command; a full queue refuses it at once as busy.</summary>
    private async Task OnCommandAsync(InboundMessage message)
    {
        if (!_queue.Writer.TryWrite(message))
        {
            var (name, camera) = _session.Topics.Command(message.Topic)!.Value;
            var reason = $"{_access.CommandQueueCapacity} commands are already waiting; try again later";
            await ReplyAsync(message, DefaultReply(message), CommandRouter.Refusal(name, camera, reason), _authority.Sender(message.Sender), name, camera).ConfigureAwait(false);
        }
    }

    /// <summary>Identifies the sender, then runs the command through the gate (which audits it) and replies.</summary>
    private async Task RunAsync(InboundMessage message, CancellationToken stop)
    {
        var (name, camera) = _session.Topics.Command(message.Topic)!.Value;
        var requester = _authority.Sender(message.Sender);
        var replyTo = DefaultReply(message);
        ReadOnlyMemory<byte> command;
        try
        {
            replyTo = ReplyTo(message);
            (requester, command) = _authority.Identify(message.Topic, message.Payload, message.Sender);
        }
        catch (InspectionInputException e)
        {
            await ReplyAsync(message, replyTo, CommandRouter.Refusal(name, camera, e.Message), requester, name, camera).ConfigureAwait(false);
            return;
        }

        var outcome = await _gate.RunAsync("mqtt", requester, name, camera, command, audit: true, stop).ConfigureAwait(false);
        await _sinks.PublishAsync(SinkItem.ForReply(replyTo, outcome.Reply)).ConfigureAwait(false);
    }

    /// <summary>A refusal before the gate (busy, an unbelievable sender, a response topic outside the line): replied and audited here.</summary>
    private async Task ReplyAsync(InboundMessage message, ReplyAddress replyTo, CommandOutcome outcome, Requester requester, string name, string? camera)
    {
        await _sinks.PublishAsync(SinkItem.ForReply(replyTo, outcome.Reply)).ConfigureAwait(false);
        await _audit.RecordAsync("mqtt", requester, name, camera, outcome.Outcome, outcome.Reason).ConfigureAwait(false);
    }

    /// <summary>
    /// Where to answer: the request's MQTT 5 response topic when it lies in {line}/replies/ or an allowed filter
    /// (Inspection:Access:ResponseTopics), else the request's topic + "/reply"; a response topic anywhere else is
    /// refused, so a request cannot make the worker publish on another camera's result topic or outside the line.
    /// </summary>
    private ReplyAddress ReplyTo(InboundMessage message)
    {
        if (message.ResponseTopic is { Length: > 0 } topic && !topic.StartsWith(_session.Topics.LineRoot + "/replies/", StringComparison.Ordinal)
            && !_access.ResponseTopics.Any(filter => Access.TopicRules.Matches(filter, topic)))
        {
            throw new InspectionInputException($"the response topic '{topic}' is outside {_session.Topics.LineRoot}/replies/ and Inspection:Access:ResponseTopics; the request was not taken");
        }

        return MqttTopics.ReplyTo(JsonResultSink.SinkName, message.Topic, message.ResponseTopic, message.CorrelationData);
    }

    private static ReplyAddress DefaultReply(InboundMessage message) => MqttTopics.ReplyTo(JsonResultSink.SinkName, message.Topic, null, message.CorrelationData);
}

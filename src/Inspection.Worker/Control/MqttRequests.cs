using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Messaging;
using Inspection.Worker.Output;
using Microsoft.Extensions.Hosting;

namespace Inspection.Worker.Control;

/// <summary>
/// Requests that arrive over the MQTT session: triggers on {line}/{camera}/trigger go to the trigger desk,
/// commands on {line}/cmd/{name} and {line}/{camera}/cmd/{name} to the command router. Replies go back through
/// the JSON sink by the MQTT reply rule (<see cref="MqttTopics.ReplyTo"/>). Started before the session
/// connects, so it subscribes on its first connection.
/// </summary>
public sealed class MqttRequests(MessagingHost messaging, TriggerDesk triggers, CommandRouter commands, SinkFanOut sinks) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var session = messaging.Session;
        var topics = session.Topics;
        commands.Register("ping", (_, _) => Task.FromResult<JsonNode?>(new JsonObject
        {
            ["clientId"] = session.Options.ClientId,
            ["queued"] = session.Counters.QueueDepth,
            ["time"] = DateTimeOffset.UtcNow.UtcDateTime,
        }));
        session.Subscribe(topics.AllTriggers, message =>
            triggers.HandleAsync(topics.TriggerCamera(message.Topic) ?? string.Empty, message.Payload, ReplyTo(message)));
        foreach (var filter in topics.CommandFilters)
        {
            session.Subscribe(filter, async message =>
            {
                var (name, camera) = topics.Command(message.Topic)!.Value;
                var reply = await commands.HandleAsync(name, camera, message.Payload, CancellationToken.None).ConfigureAwait(false);
                await sinks.PublishAsync(SinkItem.ForReply(ReplyTo(message), reply)).ConfigureAwait(false);
            });
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static ReplyAddress ReplyTo(InboundMessage message) =>
        MqttTopics.ReplyTo(JsonResultSink.SinkName, message.Topic, message.ResponseTopic, message.CorrelationData);
}

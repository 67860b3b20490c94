namespace Inspection.Messaging;

/// <summary>
/// A message the session received on one of its subscriptions (a trigger, a command). <see cref="Sender"/> is the
/// user the embedded broker stamped on it (<see cref="EmbeddedBroker.SenderProperty"/>): trustworthy only when
/// that broker, enforcing a users file, carried it; any other broker passes on whatever a client wrote there.
/// </summary>
public sealed record InboundMessage(string Topic, ReadOnlyMemory<byte> Payload, string? ResponseTopic, ReadOnlyMemory<byte> CorrelationData, string? Sender = null);

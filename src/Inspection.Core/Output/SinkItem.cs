namespace Inspection.Core;

/// <summary>What a <see cref="SinkItem"/> carries.</summary>
public enum SinkItemKind
{
    /// <summary>A verdict: for an inspected frame, or a notice about no frame (sequence 0).</summary>
    Result,

    /// <summary>A camera's state changed.</summary>
    CameraStatus,

    /// <summary>Something about the service itself: a model swap, a heartbeat.</summary>
    ServiceEvent,

    /// <summary>An answer to one request (a command, a refused trigger), for the sink it came through.</summary>
    Reply,
}

/// <summary>
/// Where the answer to a request goes: <see cref="Sink"/> names the sink that can deliver it (the one whose
/// transport the request came in on), <see cref="Reply"/> is the address of replies there, and
/// <see cref="Results"/> an address the requester named for results too (an MQTT 5 response topic), if any.
/// </summary>
public sealed record ReplyAddress(string Sink, string Reply, string? Results, ReadOnlyMemory<byte> CorrelationData);

/// <summary>A service event: <see cref="Kind"/> names it ("model", "heartbeat"), <see cref="Json"/> is its body.</summary>
public sealed record ServiceEvent(string Kind, ReadOnlyMemory<byte> Json);

/// <summary>One thing the worker says, handed to every sink. A struct, so the per-frame path allocates no envelope.</summary>
public readonly record struct SinkItem
{
    private SinkItem(SinkItemKind kind) => Kind = kind;

    public SinkItemKind Kind { get; }

    public InspectionResult? Result { get; private init; }

    public SourceStatus? Status { get; private init; }

    public ServiceEvent? Event { get; private init; }

    /// <summary>For a result: the trigger's requester; for a reply: where it goes.</summary>
    public ReplyAddress? ReplyTo { get; private init; }

    /// <summary>A reply's JSON body.</summary>
    public ReadOnlyMemory<byte> ReplyJson { get; private init; }

    public static SinkItem ForResult(InspectionResult result, ReplyAddress? replyTo = null) => new(SinkItemKind.Result) { Result = result, ReplyTo = replyTo };

    public static SinkItem ForStatus(SourceStatus status) => new(SinkItemKind.CameraStatus) { Status = status };

    public static SinkItem ForEvent(ServiceEvent serviceEvent) => new(SinkItemKind.ServiceEvent) { Event = serviceEvent };

    public static SinkItem ForReply(ReplyAddress to, ReadOnlyMemory<byte> json) => new(SinkItemKind.Reply) { ReplyTo = to, ReplyJson = json };
}

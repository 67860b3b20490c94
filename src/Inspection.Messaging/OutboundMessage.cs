using System.Buffers.Binary;
using System.Text;

namespace Inspection.Messaging;

/// <summary>An MQTT message waiting in the queue: everything needed to publish it again after a restart.</summary>
public sealed record OutboundMessage
{
    private const byte FormatVersion = 1;

    public required string Topic { get; init; }

    public required ReadOnlyMemory<byte> Payload { get; init; }

    public int QualityOfService { get; init; } = 1;

    public bool Retain { get; init; }

    /// <summary>MQTT 5 message expiry in seconds; 0 never expires.</summary>
    public uint ExpirySeconds { get; init; }

    /// <summary>MQTT 5 user properties (dropped on MQTT 3.1.1).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];

    public string? ResponseTopic { get; init; }

    public ReadOnlyMemory<byte> CorrelationData { get; init; }

    /// <summary>The queue record: a version byte, the header fields, then the payload.</summary>
    public byte[] Encode()
    {
        var utf8 = Encoding.UTF8;
        var size = 7 + 2 + utf8.GetByteCount(Topic) + 2 + utf8.GetByteCount(ResponseTopic ?? string.Empty) + 2 + CorrelationData.Length + 1 +
                   UserProperties.Sum(p => 4 + utf8.GetByteCount(p.Key) + utf8.GetByteCount(p.Value)) + Payload.Length;
        var record = new byte[size];
        var span = record.AsSpan();
        (span[0], span[1], span[2]) = (FormatVersion, (byte)QualityOfService, (byte)(Retain ? 1 : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(span[3..], ExpirySeconds);
        var at = 7;
        WriteString(span, ref at, Topic);
        WriteString(span, ref at, ResponseTopic ?? string.Empty);
        WriteBytes(span, ref at, CorrelationData.Span);
        span[at++] = (byte)UserProperties.Count;
        foreach (var (key, value) in UserProperties)
        {
            WriteString(span, ref at, key);
            WriteString(span, ref at, value);
        }

        Payload.Span.CopyTo(span[at..]);
        return record;
    }

    public static OutboundMessage Decode(ReadOnlyMemory<byte> record)
    {
        var span = record.Span;
        if (span.Length < 7 || span[0] != FormatVersion)
        {
            throw new InvalidDataException($"A queue record of version {(span.Length > 0 ? span[0] : -1)} cannot be read; this build reads version {FormatVersion}.");
        }

        var at = 7;
        var topic = ReadString(span, ref at);
        var responseTopic = ReadString(span, ref at);
        var correlation = ReadBytes(record, ref at);
        var properties = new KeyValuePair<string, string>[span[at++]];
        for (var i = 0; i < properties.Length; i++)
        {
            properties[i] = new(ReadString(span, ref at), ReadString(span, ref at));
        }

        return new OutboundMessage
        {
            Topic = topic,
            QualityOfService = span[1],
            Retain = span[2] == 1,
            ExpirySeconds = BinaryPrimitives.ReadUInt32LittleEndian(span[3..]),
            ResponseTopic = responseTopic.Length == 0 ? null : responseTopic,
            CorrelationData = correlation,
            UserProperties = properties,
            Payload = record[at..],
        };
    }

    private static void WriteString(Span<byte> span, ref int at, string value)
    {
        var length = Encoding.UTF8.GetBytes(value, span[(at + 2)..]);
        BinaryPrimitives.WriteUInt16BigEndian(span[at..], checked((ushort)length));
        at += 2 + length;
    }

    private static void WriteBytes(Span<byte> span, ref int at, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span[at..], checked((ushort)value.Length));
        value.CopyTo(span[(at + 2)..]);
        at += 2 + value.Length;
    }

    private static string ReadString(ReadOnlySpan<byte> span, ref int at)
    {
        var length = (span[at] << 8) | span[at + 1];
        var value = Encoding.UTF8.GetString(span.Slice(at + 2, length));
        at += 2 + length;
        return value;
    }

    private static ReadOnlyMemory<byte> ReadBytes(ReadOnlyMemory<byte> record, ref int at)
    {
        var span = record.Span;
        var length = (span[at] << 8) | span[at + 1];
        var value = record.Slice(at + 2, length);
        at += 2 + length;
        return value;
    }
}

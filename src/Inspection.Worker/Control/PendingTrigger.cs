using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Worker.Control;

/// <summary>
/// A PLC's request to inspect one part: the frame nearest <see cref="Time"/> is inspected and its verdict
/// published with <see cref="PartId"/> before the deadline. Exactly one verdict goes out per trigger: the
/// inspection's, or a missed deadline's, whichever claims it first.
/// </summary>
public sealed class PendingTrigger
{
    public const int MaxPartIdLength = 128;
    private int _claimed;

    public required string CameraId { get; init; }

    public required string PartId { get; init; }

    /// <summary>The moment the part was in front of the camera (the trigger's time, or its arrival when it gave none).</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>Where the requester wants its answer, when it came through a transport that has replies.</summary>
    public ReplyAddress? ReplyTo { get; init; }

    /// <summary>When the trigger arrived, on the monotonic clock.</summary>
    public long ReceivedTimestamp { get; init; } = Stopwatch.GetTimestamp();

    public bool IsClaimed => Volatile.Read(ref _claimed) == 1;

    /// <summary>True for the first caller only: the one whose verdict is published.</summary>
    public bool TryClaim() => Interlocked.Exchange(ref _claimed, 1) == 0;

    /// <summary>Reads {"partId": "...", "time": ...}; time is ISO 8601 or Unix milliseconds and may be left out.</summary>
    public static PendingTrigger Parse(string cameraId, ReadOnlySpan<byte> payload, DateTimeOffset now, ReplyAddress? replyTo = null)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload.ToArray());
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"the trigger is not JSON ({e.Message}); send {{\"partId\": \"P-1\", \"time\": \"2026-01-01T12:00:00Z\"}}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("partId", out var part) || part.ValueKind is not (JsonValueKind.String or JsonValueKind.Number))
            {
                throw new InspectionInputException("the trigger has no \"partId\" (a string)");
            }

            var partId = part.ValueKind == JsonValueKind.String ? part.GetString()! : part.GetRawText();
            if (partId.Length is 0 or > MaxPartIdLength || partId.Any(char.IsControl))
            {
                throw new InspectionInputException($"\"partId\" must be 1-{MaxPartIdLength} printable characters");
            }

            var time = now;
            if (root.TryGetProperty("time", out var t) && t.ValueKind != JsonValueKind.Null)
            {
                time = t.ValueKind switch
                {
                    JsonValueKind.Number when t.TryGetInt64(out var ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms),
                    JsonValueKind.String when DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) => parsed,
                    _ => throw new InspectionInputException("\"time\" must be an ISO 8601 time or Unix milliseconds"),
                };
            }

            return new PendingTrigger { CameraId = cameraId, PartId = partId, Time = time, ReplyTo = replyTo };
        }
    }
}

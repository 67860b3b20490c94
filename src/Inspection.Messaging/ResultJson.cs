using System.Buffers;
using System.Text.Json;
using Inspection.Core;

namespace Inspection.Messaging;

/// <summary>
/// Writes results and statuses as the JSON documented in docs/mqtt.md and schemas/inspection-result.schema.json.
/// Field names are part of the contract with PLC and SCADA integrations: change them only with a new schema version.
/// </summary>
public static class ResultJson
{
    /// <summary>Results: 2 added "id" and "run" (docs/mqtt.md, deduplication); 3 added "evidence".</summary>
    public const int ResultSchemaVersion = 3;

    /// <summary>Camera and service statuses: their shape did not change with the result's version 3.</summary>
    public const int StatusSchemaVersion = 2;

    /// <summary>
    /// Writes one result. <paramref name="evidenceBaseUrl"/> (the web view's public base URL, or null when none is
    /// known) makes the kept frame's "url": BASE/api/evidence/ID.jpg.
    /// </summary>
    public static void WriteResult(IBufferWriter<byte> output, InspectionResult result, DateTimeOffset publishTime, string? evidenceBaseUrl = null)
    {
        using var json = new Utf8JsonWriter(output);
        json.WriteStartObject();
        json.WriteNumber("schemaVersion", ResultSchemaVersion);
        json.WriteString("id", result.Id);
        json.WriteString("run", result.RunId);
        json.WriteString("camera", result.CameraId);
        json.WriteNumber("sequence", result.Sequence);
        json.WriteString("captureTime", result.CaptureTime.UtcDateTime);
        json.WriteString("publishTime", publishTime.UtcDateTime);
        json.WriteStartObject("model");
        json.WriteString("name", result.ModelName);
        json.WriteString("version", result.ModelVersion);
        json.WriteEndObject();
        json.WriteString("verdict", VerdictText(result.Verdict));
        if (result.Reason is not null)
        {
            json.WriteString("reason", result.Reason);
        }

        if (result.PartId is not null)
        {
            json.WriteString("partId", result.PartId);
        }

        json.WriteStartArray("integrity");
        foreach (var flag in IntegrityFlags)
        {
            if (result.Integrity.HasFlag(flag))
            {
                json.WriteStringValue(flag.ToString().ToLowerInvariant());
            }
        }

        json.WriteEndArray();
        json.WriteStartObject("image");
        json.WriteNumber("width", result.Width);
        json.WriteNumber("height", result.Height);
        json.WriteEndObject();
        json.WriteNumber("inferenceMs", Math.Round(result.InferenceLatency.TotalMilliseconds, 2));
        DetectionJson.WriteArray(json, "detections", result.Detections, result.ClassName);
        if (result.Evidence is { } evidence)
        {
            json.WriteStartObject("evidence");
            json.WriteString("id", evidence.Id);
            json.WriteString("kind", evidence.Kind);
            if (evidenceBaseUrl is not null)
            {
                json.WriteString("url", EvidenceUrl(evidenceBaseUrl, evidence.Id));
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    /// <summary>Where the web view serves an evidence item's picture: BASE/api/evidence/ID.jpg, the id escaped.</summary>
    public static string EvidenceUrl(string baseUrl, string id) => baseUrl.TrimEnd('/') + EvidenceRef.PicturePath(id);

    /// <summary>A camera's retained status: {"camera", "state", "reason", "since"}.</summary>
    public static byte[] CameraStatus(SourceStatus status) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
    {
        ["schemaVersion"] = StatusSchemaVersion,
        ["camera"] = status.CameraId,
        ["state"] = status.State.ToString().ToLowerInvariant(),
        ["online"] = status.State == SourceState.Streaming,
        ["reason"] = status.Reason,
        ["since"] = status.Since.UtcDateTime,
    });

    /// <summary>The service's retained status: {"state": "online"|"offline", "clientId", "since"}.</summary>
    public static byte[] ServiceStatus(bool online, string clientId, DateTimeOffset since) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
    {
        ["schemaVersion"] = StatusSchemaVersion,
        ["state"] = online ? "online" : "offline",
        ["clientId"] = clientId,
        ["since"] = since.UtcDateTime,
    });

    public static string VerdictText(Verdict verdict) => verdict switch
    {
        Verdict.Ok => "OK",
        Verdict.Ng => "NG",
        _ => "UNKNOWN",
    };

    private static readonly FrameIntegrity[] IntegrityFlags = [FrameIntegrity.Frozen, FrameIntegrity.Black, FrameIntegrity.Blank, FrameIntegrity.Blurred];
}

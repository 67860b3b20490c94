using System.Buffers;
using System.Text;
using Inspection.Core;
using Inspection.Messaging;

namespace Inspection.Messaging.Tests;

public sealed class ResultJsonTests
{
    private static readonly DateTimeOffset PublishTime = new(2026, 11, 28, 17, 2, 11, 521, TimeSpan.Zero);

    private static InspectionResult Sample() => new()
    {
        Id = Guid.Parse("019ad6f2-5c1e-7b3a-9d4e-2f1a0b9c8d7e"),
        RunId = Guid.Parse("019ad6f0-0000-7000-8000-000000000001"),
        CameraId = "cam1",
        Sequence = 1842,
        CaptureTime = new DateTimeOffset(2026, 11, 28, 17, 2, 11, 483, TimeSpan.Zero),
        ModelName = "workpiece-crack",
        ModelVersion = "3f2a9c01b7de",
        Verdict = Verdict.Ng,
        Reason = "crack 0.91 >= 0.25",
        PartId = "A-7731",
        Integrity = FrameIntegrity.Frozen | FrameIntegrity.Blurred,
        Width = 320,
        Height = 320,
        InferenceLatency = TimeSpan.FromMilliseconds(31.4159),
        ClassNames = ["crack", "scratch"],
        Detections =
        [
            new Detection(0, 0.912345f, new BoundingBox(120.46f, 88.24f, 180.05f, 140.74f)),
            new Detection(7, 0.25f, new BoundingBox(0f, 0.04f, 319.96f, 320f)),
        ],
    };

    /// <summary>The bytes PLC and SCADA integrations parse: field order, names and rounding are part of the contract.</summary>
    [Fact]
    public void A_result_is_written_byte_for_byte_as_the_contract_says()
    {
        var output = new ArrayBufferWriter<byte>();

        ResultJson.WriteResult(output, Sample(), PublishTime);

        const string Expected =
            """
            {"schemaVersion":3,"id":"019ad6f2-5c1e-7b3a-9d4e-2f1a0b9c8d7e","run":"019ad6f0-0000-7000-8000-000000000001","camera":"cam1","sequence":1842,"captureTime":"2026-11-28T17:02:11.483Z","publishTime":"2026-11-28T17:02:11.521Z","model":{"name":"workpiece-crack","version":"3f2a9c01b7de"},"verdict":"NG","reason":"crack 0.91 \u003E= 0.25","partId":"A-7731","integrity":["frozen","blurred"],"image":{"width":320,"height":320},"inferenceMs":31.42,"detections":[{"classId":0,"class":"crack","score":0.9123,"box":[120.5,88.2,180.1,140.7]},{"classId":7,"class":"7","score":0.25,"box":[0,0,320,320]}]}
            """;
        Assert.Equal(Expected, Encoding.UTF8.GetString(output.WrittenSpan));
    }

    /// <summary>Schema 3: a kept frame names its evidence item, with the web view's URL when a base URL is known; the schema holds either way.</summary>
    [Theory]
    [InlineData("https://line3-ipc:9401/", "\"url\":\"https://line3-ipc:9401/api/evidence/20261128T170211483_cam1_1842_A-7731.jpg\"")]
    [InlineData(null, null)]
    public void A_kept_frame_names_its_evidence_and_the_URL_under_the_base(string? baseUrl, string? expectedUrl)
    {
        var output = new ArrayBufferWriter<byte>();

        ResultJson.WriteResult(output, Sample() with { Evidence = new EvidenceRef("20261128T170211483_cam1_1842_A-7731", "ng") }, PublishTime, baseUrl);

        var json = Encoding.UTF8.GetString(output.WrittenSpan);
        var evidence = "\"evidence\":{\"id\":\"20261128T170211483_cam1_1842_A-7731\",\"kind\":\"ng\"" + (expectedUrl is null ? "}" : "," + expectedUrl + "}");
        Assert.EndsWith(evidence + "}", json, StringComparison.Ordinal);
        PublisherTests.AssertValid(json);
    }

    [Fact]
    public void A_result_without_evidence_has_no_evidence_field_and_matches_the_schema()
    {
        var output = new ArrayBufferWriter<byte>();

        ResultJson.WriteResult(output, Sample(), PublishTime, "http://127.0.0.1:9401");

        var json = Encoding.UTF8.GetString(output.WrittenSpan);
        Assert.DoesNotContain("evidence", json, StringComparison.Ordinal);
        PublisherTests.AssertValid(json);
    }

    [Fact]
    public void An_evidence_id_outside_the_schema_s_pattern_is_refused_by_it()
    {
        var output = new ArrayBufferWriter<byte>();

        ResultJson.WriteResult(output, Sample() with { Evidence = new EvidenceRef("../../etc/passwd", "ng") }, PublishTime);

        Assert.Throws<Xunit.Sdk.TrueException>(() => PublisherTests.AssertValid(Encoding.UTF8.GetString(output.WrittenSpan)));
    }

    [Fact]
    public void An_evidence_id_is_escaped_in_its_URL()
    {
        Assert.Equal("http://h:1/api/evidence/a%20b.jpg", ResultJson.EvidenceUrl("http://h:1/", "a b"));
    }
}

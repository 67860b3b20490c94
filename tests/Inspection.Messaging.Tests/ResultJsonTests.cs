using System.Buffers;
using System.Text;
using Inspection.Core;
using Inspection.Messaging;

namespace Inspection.Messaging.Tests;

public sealed class ResultJsonTests
{
    /// <summary>The bytes PLC and SCADA integrations parse: field order, names and rounding are part of the contract.</summary>
    [Fact]
    public void A_result_is_written_byte_for_byte_as_the_contract_says()
    {
        var result = new InspectionResult
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
        var output = new ArrayBufferWriter<byte>();

        ResultJson.WriteResult(output, result, new DateTimeOffset(2026, 11, 28, 17, 2, 11, 521, TimeSpan.Zero));

        const string Expected =
            """
            {"schemaVersion":2,"id":"019ad6f2-5c1e-7b3a-9d4e-2f1a0b9c8d7e","run":"019ad6f0-0000-7000-8000-000000000001","camera":"cam1","sequence":1842,"captureTime":"2026-11-28T17:02:11.483Z","publishTime":"2026-11-28T17:02:11.521Z","model":{"name":"workpiece-crack","version":"3f2a9c01b7de"},"verdict":"NG","reason":"crack 0.91 \u003E= 0.25","partId":"A-7731","integrity":["frozen","blurred"],"image":{"width":320,"height":320},"inferenceMs":31.42,"detections":[{"classId":0,"class":"crack","score":0.9123,"box":[120.5,88.2,180.1,140.7]},{"classId":7,"class":"7","score":0.25,"box":[0,0,320,320]}]}
            """;
        Assert.Equal(Expected, Encoding.UTF8.GetString(output.WrittenSpan));
    }
}

using System.Text;
using Inspection.Core;
using Inspection.Worker.Control;

namespace Inspection.Worker.Tests;

public sealed class TriggerTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("{\"partId\": \"P-17\", \"time\": \"2026-11-28T11:59:59.5Z\"}", "P-17", 500)]
    [InlineData("{\"partId\": \"P-18\", \"time\": 1795867199000}", "P-18", 1000)]
    [InlineData("{\"partId\": 4711}", "4711", 0)]
    public void A_trigger_names_its_part_and_when_it_passed(string json, string part, int millisecondsBefore)
    {
        var trigger = PendingTrigger.Parse("cam", Encoding.UTF8.GetBytes(json), Now);
        Assert.Equal(part, trigger.PartId);
        Assert.Equal(Now.AddMilliseconds(-millisecondsBefore), trigger.Time);
    }

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("{\"time\": 1}", "no \"partId\"")]
    [InlineData("{\"partId\": \"\"}", "1-128 printable")]
    [InlineData("{\"partId\": \"a\", \"time\": \"yesterday\"}", "ISO 8601")]
    public void A_bad_trigger_is_explained(string json, string expected)
    {
        var e = Assert.Throws<InspectionInputException>(() => PendingTrigger.Parse("cam", Encoding.UTF8.GetBytes(json), Now));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Only_one_verdict_claims_a_trigger()
    {
        var trigger = PendingTrigger.Parse("cam", "{\"partId\": \"x\"}"u8, Now);
        Assert.True(trigger.TryClaim());
        Assert.False(trigger.TryClaim());
    }
}

using Inspection.Core;
using Inspection.Worker.Configuration;
using Inspection.Worker.Rules;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Tests;

public sealed class RulesTests
{
    private static readonly string[] Classes = ["scratch", "dent", "label"];

    [Fact]
    public void A_defect_above_its_class_threshold_makes_the_frame_ng_and_other_classes_do_not()
    {
        var rules = Build(new RulesOptions
        {
            Confidence = 0.5,
            Classes = { ["dent"] = new() { Confidence = 0.8 }, ["label"] = new() { Defect = false, Confidence = 0.3 } },
        });
        var kept = new List<Detection>();

        Assert.Equal(Verdict.Ok, rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(1, 0.7f), Box(2, 0.9f)], kept).Verdict); // a dent below 0.8, a label
        Assert.Equal([2], kept.Select(d => d.ClassId)); // the label counts as found, not as a defect

        var ng = rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(0, 0.55f)], kept);
        Assert.Equal(Verdict.Ng, ng.Verdict);
        Assert.Equal("scratch 0.55 >= 0.50", ng.Reason);
    }

    [Fact]
    public void Regions_masks_and_minimum_size_decide_which_detections_count()
    {
        var rules = Build(new RulesOptions { Confidence = 0.5, MinBoxWidth = 5, MinBoxHeight = 5 }, new CameraRulesOptions
        {
            Regions = ["0,0 0.5,0 0.5,1 0,1"],      // the left half
            IgnoreMasks = ["0,0 0.2,0 0.2,0.2 0,0.2"], // its top-left corner
        });
        var kept = new List<Detection>();

        Assert.Equal(Verdict.Ng, rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(0, 0.9f, x: 30, y: 50)], kept).Verdict);
        Assert.Equal(Verdict.Ok, rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(0, 0.9f, x: 70, y: 50)], kept).Verdict); // outside the region
        Assert.Equal(Verdict.Ok, rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(0, 0.9f, x: 10, y: 10)], kept).Verdict); // masked
        Assert.Equal(Verdict.Ok, rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(0, 0.9f, x: 30, y: 50, size: 4)], kept).Verdict); // too small
    }

    [Fact]
    public void A_picture_that_failed_its_integrity_checks_is_unknown_whatever_was_found()
    {
        var rules = Build(new RulesOptions());
        var outcome = rules.Evaluate(FrameIntegrity.Frozen | FrameIntegrity.Black, 100, 100, [Box(0, 0.99f)], []);
        Assert.Equal(Verdict.Unknown, outcome.Verdict);
        Assert.Contains("frozen", outcome.Reason);
    }

    [Fact]
    public void Scores_near_a_threshold_are_uncertain_and_the_detector_is_asked_for_them()
    {
        var book = Book(new RulesOptions { Confidence = 0.5, UncertainMargin = 0.1 });
        var rules = book.Current.Cameras["cam"];
        Assert.True(rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(0, 0.45f)], []).Uncertain);
        Assert.False(rules.Evaluate(FrameIntegrity.Ok, 100, 100, [Box(0, 0.9f)], []).Uncertain);
        Assert.Equal(0.4f, book.Current.Thresholds.Confidence, 4);
    }

    [Fact]
    public void A_threshold_set_by_command_overrides_the_configuration_for_its_camera_and_class()
    {
        var book = Book(new RulesOptions { Confidence = 0.5 });
        book.SetConfidence("cam", "dent", 0.9);
        Assert.Equal([0.5f, 0.9f, 0.5f], book.Current.Cameras["cam"].Confidence);
        Assert.Throws<InspectionInputException>(() => book.SetConfidence("cam", "crack", 0.9));
        Assert.Throws<InspectionInputException>(() => book.SetConfidence("nope", null, 0.9));
        Assert.Throws<InspectionInputException>(() => book.SetConfidence(null, null, 1.5));
    }

    [Fact]
    public void A_rule_for_a_class_the_model_lacks_is_refused()
    {
        var e = Assert.Throws<InspectionInputException>(() => Book(new RulesOptions { Classes = { ["crack"] = new() } }));
        Assert.Contains("crack", e.Message);
        Assert.Contains("scratch, dent, label", e.Message);
    }

    [Theory]
    [InlineData("0.1,0.1 0.9,0.1", "at least 3")]
    [InlineData("0.1,0.1 0.9;0.1 0.5,0.5", "is not a point")]
    [InlineData("0.1,0.1 1.9,0.1 0.5,0.5", "outside the picture")]
    public void Bad_polygons_are_explained(string text, string expected)
    {
        Assert.False(Polygon.TryParse(text, out _, out var error));
        Assert.Contains(expected, error);
    }

    private static CameraRules Build(RulesOptions line, CameraRulesOptions? camera = null) => Book(line, camera).Current.Cameras["cam"];

    private static RuleBook Book(RulesOptions line, CameraRulesOptions? camera = null)
    {
        var options = new InspectionOptions { Rules = line, Cameras = [new WorkerCameraOptions { Id = "cam", Uri = "/dev/null", Rules = camera ?? new() }] };
        var book = new RuleBook(Options.Create(options), new ConfigurationBuilder().Build(), NullLogger<RuleBook>.Instance);
        book.UseModel(Classes, ["cam"]);
        return book;
    }

    private static Detection Box(int classId, float score, float x = 50, float y = 50, float size = 10) =>
        new(classId, score, new BoundingBox(x - (size / 2), y - (size / 2), x + (size / 2), y + (size / 2)));
}

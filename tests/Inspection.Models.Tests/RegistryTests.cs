using Inspection.Core;
using Inspection.TestSupport;

namespace Inspection.Models.Tests;

public sealed class RegistryTests
{
    [Fact]
    public void Versions_are_numbered_in_order_and_only_promotion_changes_the_current_one()
    {
        using var folder = new TempFolder();
        var registry = new ModelRegistry(folder.File("registry"));
        var first = registry.Register("crack", Model(folder, "a"), Card());
        var second = registry.Register("crack", Model(folder, "b"), Card() with { Parent = 1 });

        Assert.Equal([1, 2], registry.Versions("crack").Select(v => v.Version));
        Assert.Equal(ModelRegistry.Sha256Of(Model(folder, "b")), second.Card.Sha256);
        Assert.Null(registry.Current("crack"));

        registry.Promote("crack", 1);
        registry.Promote("crack", 2);
        Assert.Equal(2, registry.Current("crack")!.Version);
        Assert.Equal([1], registry.Pointer("crack")!.Previous);

        registry.Rollback("crack");
        Assert.Equal(1, registry.Current("crack")!.Version);
        Assert.Equal(["crack"], registry.Names);
        Assert.Equal(first.ModelPath, registry.Current("crack")!.ModelPath);
    }

    [Fact]
    public void A_model_file_changed_after_registration_is_refused_by_its_sha256()
    {
        using var folder = new TempFolder();
        var registry = new ModelRegistry(folder.File("registry"));
        var version = registry.Register("crack", Model(folder, "a"), Card());
        File.AppendAllText(version.ModelPath, "tampered");

        var e = Assert.Throws<InspectionInputException>(() => registry.Promote("crack", 1));
        Assert.Contains("SHA-256", e.Message);
        Assert.Null(registry.Pointer("crack"));
    }

    [Fact]
    public void Mistakes_are_explained()
    {
        using var folder = new TempFolder();
        var registry = new ModelRegistry(folder.File("registry"));
        registry.Register("crack", Model(folder, "a"), Card());
        Assert.Contains("has no version 7; it has 1", Assert.Throws<InspectionInputException>(() => registry.Get("crack", 7)).Message);
        Assert.Contains("no model 'dent'", Assert.Throws<InspectionInputException>(() => registry.Get("dent", 1)).Message);
        Assert.Contains("no current version", Assert.Throws<InspectionInputException>(() => registry.Rollback("crack")).Message);
        registry.Promote("crack", 1);
        Assert.Contains("no earlier version", Assert.Throws<InspectionInputException>(() => registry.Rollback("crack")).Message);
        Assert.Contains("must be 1-64", Assert.Throws<InspectionInputException>(() => registry.Register("../x", Model(folder, "a"), Card())).Message);
    }

    [Fact]
    public void A_golden_set_passes_its_own_detections_and_fails_changed_ones()
    {
        using var folder = new TempFolder();
        var image = folder.File("part.jpg");
        File.WriteAllBytes(image, [1, 2, 3]);
        var expected = new GoldenDetection("crack", 0.8f, [10, 10, 50, 60]);
        var golden = GoldenSet.Create(folder.File("golden"), [(image, [expected])]);
        var loaded = GoldenSet.Load(golden.Folder);

        Assert.Null(GoldenSet.Compare(loaded.Images[0], [expected with { Score = 0.78f }]));
        Assert.Contains("expected crack 0.80", GoldenSet.Compare(loaded.Images[0], []));
        Assert.Contains("expected crack", GoldenSet.Compare(loaded.Images[0], [expected with { Box = [100, 100, 150, 160] }]));
        Assert.Contains("unexpected dent", GoldenSet.Compare(loaded.Images[0], [expected, new GoldenDetection("dent", 0.9f, [0, 0, 5, 5])]));
    }

    private static string Model(TempFolder folder, string content)
    {
        var path = folder.File(content + ".onnx");
        File.WriteAllText(path, "model " + content);
        return path;
    }

    private static ModelCard Card() => new() { Name = "x", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
}

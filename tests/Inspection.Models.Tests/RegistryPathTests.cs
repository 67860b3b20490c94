using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.TestSupport;

namespace Inspection.Models.Tests;

/// <summary>Every path a registry's files name stays inside the registry: no '..', no absolute paths, no symbolic link leading out.</summary>
public sealed class RegistryPathTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly ModelRegistry _registry;

    public RegistryPathTests()
    {
        _registry = new ModelRegistry(_folder.File("registry"));
        File.WriteAllText(_folder.File("outside.txt"), "not the registry's");
    }

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("../../../outside.txt", "not a plain relative path")]
    [InlineData("../1/model.onnx", "not a plain relative path")]
    [InlineData("/etc/passwd", "not a plain relative path")]
    public void A_checkpoint_named_outside_its_version_is_refused(string checkpoint, string reason)
    {
        var version = Register(golden: false);
        var edited = EditCard(version, card => card["checkpoint"] = checkpoint);

        var e = Assert.Throws<InspectionInputException>(() => edited.CheckpointPath);
        Assert.Contains(reason, e.Message);
        Assert.Contains("crack version 1: model.json names a checkpoint", e.Message);
    }

    [Theory]
    [InlineData("../../model.onnx")]
    [InlineData("/etc/hostname")]
    public void A_golden_image_named_outside_the_golden_set_is_refused(string image)
    {
        var version = Register(golden: true);
        var expected = Path.Combine(version.GoldenPath, GoldenSet.ExpectedFile);
        var json = JsonNode.Parse(File.ReadAllText(expected))!;
        json[0]!["image"] = image;
        File.WriteAllText(expected, json.ToJsonString());

        var e = Assert.Throws<InspectionInputException>(() => GoldenSet.Load(version.GoldenPath));
        Assert.Contains("names a golden image", e.Message);
        Assert.Contains("not a plain relative path", e.Message);
    }

    [Fact]
    public void Symbolic_links_leading_out_of_the_registry_are_refused_and_links_inside_it_are_not()
    {
        var version = Register(golden: true);

        // A golden image that is a link to another file of the same golden set: inside, accepted.
        var image = GoldenSet.Load(version.GoldenPath).Images[0].Image;
        File.Move(Path.Combine(version.GoldenPath, image), Path.Combine(version.GoldenPath, "real.jpg"));
        File.CreateSymbolicLink(Path.Combine(version.GoldenPath, image), "real.jpg");
        Assert.Single(GoldenSet.Load(version.GoldenPath).Images);

        // The same image linked to a file outside: refused, naming where it leads.
        File.Delete(Path.Combine(version.GoldenPath, image));
        File.CreateSymbolicLink(Path.Combine(version.GoldenPath, image), _folder.File("outside.txt"));
        var e = Assert.Throws<InspectionInputException>(() => GoldenSet.Load(version.GoldenPath));
        Assert.Contains("through a symbolic link", e.Message);
        Assert.Contains(_folder.File("outside.txt"), e.Message);

        // model.onnx replaced by a link to a file outside.
        File.Move(version.ModelPath, _folder.File("moved.onnx"));
        File.CreateSymbolicLink(Path.Combine(version.Folder, RegisteredModel.ModelFile), _folder.File("moved.onnx"));
        Assert.Contains("through a symbolic link", Assert.Throws<InspectionInputException>(() => version.ModelPath).Message);

        // A whole version folder that is a link to a folder outside the registry.
        var elsewhere = Directory.CreateDirectory(_folder.File("elsewhere")).FullName;
        File.Copy(Path.Combine(version.Folder, RegisteredModel.CardFile), Path.Combine(elsewhere, RegisteredModel.CardFile));
        Directory.CreateSymbolicLink(Path.Combine(_registry.Root, "crack", "2"), elsewhere);
        Assert.Contains("through a symbolic link", Assert.Throws<InspectionInputException>(() => _registry.Get("crack", 2)).Message);
        Assert.Contains("through a symbolic link", Assert.Throws<InspectionInputException>(() => _registry.Versions("crack")).Message);
    }

    [Fact]
    public void Golden_images_with_the_same_file_name_keep_their_own_picture_and_expectations()
    {
        var first = Image("cam1", "part.jpg", [1, 1, 1]);
        var second = Image("cam2", "part.jpg", [2, 2, 2]);
        var third = Image("cam3", "PART.jpg", [3, 3, 3]);
        var golden = GoldenSet.Create(_folder.File("golden"), [
            (first, [new GoldenDetection("crack", 0.9f, [1, 1, 5, 5])]),
            (second, [new GoldenDetection("crack", 0.8f, [2, 2, 6, 6])]),
            (third, []),
        ]);

        var loaded = GoldenSet.Load(golden.Folder);
        Assert.Equal(["part.jpg", "part-2.jpg", "PART-3.jpg"], loaded.Images.Select(i => i.Image));
        Assert.Equal([1, 1, 1], File.ReadAllBytes(loaded.PathOf(loaded.Images[0])));
        Assert.Equal([2, 2, 2], File.ReadAllBytes(loaded.PathOf(loaded.Images[1])));
        Assert.Equal([3, 3, 3], File.ReadAllBytes(loaded.PathOf(loaded.Images[2])));
        Assert.Equal(0.8f, loaded.Images[1].Expected[0].Score);
    }

    [Fact]
    public void A_checkpoint_named_like_a_file_of_the_version_is_refused()
    {
        var model = _folder.File("m.onnx");
        File.WriteAllText(model, "model");
        var checkpoint = _folder.File("model");
        File.WriteAllText(checkpoint, "weights"); // its companion would be model.json, the card
        var e = Assert.Throws<InspectionInputException>(() => _registry.Register("crack", model, Card(), checkpoint));
        Assert.Contains("named like one of a version's own files", e.Message);
    }

    private RegisteredModel Register(bool golden)
    {
        var model = _folder.File("m.onnx");
        File.WriteAllText(model, "model");
        var checkpoint = _folder.File("best.weights");
        File.WriteAllText(checkpoint, "weights");
        var image = Image("pictures", "part.jpg", [1, 2, 3]);
        return _registry.Register("crack", model, Card(), checkpoint, golden ? folder => GoldenSet.Create(folder, [(image, [])]) : null);
    }

    private RegisteredModel EditCard(RegisteredModel version, Action<JsonObject> edit)
    {
        var path = Path.Combine(version.Folder, RegisteredModel.CardFile);
        var card = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(card);
        File.WriteAllText(path, card.ToJsonString());
        return _registry.Get(version.Name, version.Version);
    }

    private string Image(string folder, string name, byte[] content)
    {
        var path = Path.Combine(Directory.CreateDirectory(_folder.File(folder)).FullName, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static ModelCard Card() => new() { Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
}

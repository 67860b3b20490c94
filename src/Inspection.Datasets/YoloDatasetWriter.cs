using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Inspection.Datasets;

/// <summary>
/// Writes detection datasets in the one layout that <see cref="DatasetLoader"/> (so 'inspection dataset check' and
/// 'inspection train') and Ultralytics read as they are: FOLDER/images/NAME.ext with its YOLO label at
/// FOLDER/labels/NAME.txt, and a data.yaml whose splits are relative to its own folder. The worker's evidence, the
/// review of it and the retraining runs all write through here, so they cannot drift apart.
/// </summary>
public sealed class YoloDatasetWriter
{
    public const string DataYamlName = "data.yaml";

    public YoloDatasetWriter(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string DataYamlPath => Path.Combine(Root, DataYamlName);

    /// <summary>Creates FOLDER/images and FOLDER/labels below the root (<paramref name="folder"/> "" for the root itself).</summary>
    public (string Images, string Labels) CreateFolders(string folder = "")
    {
        var images = Directory.CreateDirectory(Path.Combine(Root, folder, "images")).FullName;
        var labels = Directory.CreateDirectory(Path.Combine(Root, folder, "labels")).FullName;
        return (images, labels);
    }

    /// <summary>
    /// Writes data.yaml (whole or not at all: a temporary file renamed over it) through YamlDotNet. Every class name
    /// is double-quoted, so a name such as <c>no</c>, <c>null</c>, <c>a: b</c>, <c>x #1</c> or <c>-x</c> reads back as
    /// the same text in YamlDotNet and in PyYAML (YAML 1.1, where a plain <c>no</c> is false). No <c>path:</c> key:
    /// Ultralytics reads a relative one below its own datasets folder, while without it both readers take the
    /// splits relative to the data.yaml.
    /// </summary>
    /// <param name="train">The training split: a folder or a list file, relative to the root.</param>
    /// <param name="val">The validation split, likewise.</param>
    /// <param name="comment">A line saying what the dataset is, written as a YAML comment.</param>
    public void WriteDataYaml(IReadOnlyList<string> names, string train, string val, string? comment = null)
    {
        var text = new StringWriter(CultureInfo.InvariantCulture);
        var emitter = new Emitter(text);
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart());
        if (comment is not null)
        {
            emitter.Emit(new Comment(comment, isInline: false));
        }

        emitter.Emit(new MappingStart());
        emitter.Emit(new Scalar("train"));
        emitter.Emit(new Scalar(train));
        emitter.Emit(new Scalar("val"));
        emitter.Emit(new Scalar(val));
        emitter.Emit(new Scalar("names"));
        emitter.Emit(new MappingStart());
        for (var i = 0; i < names.Count; i++)
        {
            emitter.Emit(new Scalar(i.ToString(CultureInfo.InvariantCulture)));
            emitter.Emit(new Scalar(null, null, names[i], ScalarStyle.DoubleQuoted, isPlainImplicit: false, isQuotedImplicit: true));
        }

        emitter.Emit(new MappingEnd());
        emitter.Emit(new MappingEnd());
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());

        var temporary = DataYamlPath + ".tmp";
        File.WriteAllText(temporary, text.ToString(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        File.Move(temporary, DataYamlPath, overwrite: true);
    }

    /// <summary>
    /// Where the loader looks first for an image's labels: the last <c>images</c> folder of its path swapped for
    /// <c>labels</c>, the extension for .txt (as Ultralytics' img2label_paths); beside the image when no folder is
    /// named images.
    /// </summary>
    public static string LabelPathOf(string imagePath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(imagePath))!;
        var stem = Path.GetFileNameWithoutExtension(imagePath) + ".txt";
        var marker = $"{Path.DirectorySeparatorChar}images{Path.DirectorySeparatorChar}";
        var at = (folder + Path.DirectorySeparatorChar).LastIndexOf(marker, StringComparison.Ordinal);
        return at < 0
            ? Path.Combine(folder, stem)
            : Path.Combine(folder[..at], "labels", folder[Math.Min(folder.Length, at + marker.Length)..], stem);
    }

    /// <summary>Writes the labels of an image at <see cref="LabelPathOf"/> it; no boxes make an empty file (a background image).</summary>
    /// <returns>The label file's path.</returns>
    public static string WriteLabels(string imagePath, IEnumerable<LabeledBox> boxes)
    {
        var path = LabelPathOf(imagePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, LabelText(boxes));
        return path;
    }

    /// <summary>YOLO label lines, "class cx cy w h" as fractions of the image with 6 decimals, each ending in a newline.</summary>
    public static string LabelText(IEnumerable<LabeledBox> boxes) => string.Concat(boxes.Select(b => string.Create(CultureInfo.InvariantCulture,
        $"{b.ClassId} {(b.Box.X1 + b.Box.X2) / 2:0.######} {(b.Box.Y1 + b.Box.Y2) / 2:0.######} {b.Box.Width:0.######} {b.Box.Height:0.######}\n")));
}

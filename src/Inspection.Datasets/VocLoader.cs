using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Datasets;

/// <summary>
/// Pascal VOC: annotations/*.xml (pixel boxes), images/, and optional splits/{train,val,test}.txt listing images.
/// Classes are the object names found, in alphabetical order, unless a classes.txt gives the order.
/// </summary>
internal static class VocLoader
{
    public static Dataset Load(string folder, bool verifyImages, List<DatasetProblem> problems, Action<DatasetLoadProgress>? progress)
    {
        var annotations = Directory.EnumerateFiles(Path.Combine(folder, "annotations"), "*.xml").Order(StringComparer.Ordinal).ToList();
        var parsed = new Dictionary<string, (string Xml, List<(string Name, float X1, float Y1, float X2, float Y2)> Objects, int Width, int Height, int Depth)>(StringComparer.Ordinal);
        foreach (var xml in DatasetLoader.Reporting(annotations, "annotations", progress))
        {
            if (Parse(xml, folder, problems) is { } annotation)
            {
                parsed[annotation.Image] = (xml, annotation.Objects, annotation.Width, annotation.Height, annotation.Depth);
            }
        }

        var classesFile = Path.Combine(folder, "classes.txt");
        var names = File.Exists(classesFile)
            ? File.ReadAllLines(classesFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToList()
            : parsed.Values.SelectMany(a => a.Objects).Select(o => o.Name).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);

        DatasetImage? ToImage(string image)
        {
            if (!parsed.TryGetValue(image, out var annotation))
            {
                problems.Add(new(ProblemSeverity.Warning, "no-annotation", image, "no annotation XML names this image; skipped"));
                return null;
            }

            var (width, height) = (annotation.Width, annotation.Height);
            if (verifyImages || width <= 0 || height <= 0)
            {
                using var mat = Cv2.ImRead(image, ImreadModes.Unchanged);
                if (mat.Empty())
                {
                    problems.Add(new(ProblemSeverity.Warning, "bad-image", image, "not an image OpenCV can read (corrupt or another format); skipped"));
                    return null;
                }

                if (annotation.Depth > 0 && annotation.Depth != mat.Channels())
                {
                    problems.Add(new(ProblemSeverity.Note, "depth-mismatch", annotation.Xml, $"says depth {annotation.Depth}, the image has {mat.Channels()} channels (harmless: images are read as 3 channels)"));
                }

                if (width > 0 && (mat.Width != width || mat.Height != height))
                {
                    problems.Add(new(ProblemSeverity.Warning, "size-mismatch", annotation.Xml, $"says {width}x{height}, the image is {mat.Width}x{mat.Height}; the image's size is used"));
                }

                (width, height) = (mat.Width, mat.Height);
            }

            var boxes = new List<LabeledBox>();
            foreach (var (name, x1, y1, x2, y2) in annotation.Objects)
            {
                if (!index.TryGetValue(name, out var classId))
                {
                    problems.Add(new(ProblemSeverity.Warning, "bad-class", annotation.Xml, $"object '{name}' is not in classes.txt; skipped"));
                    continue;
                }

                var box = new BoundingBox(x1 / width, y1 / height, x2 / width, y2 / height);
                var clipped = new BoundingBox(Math.Clamp(box.X1, 0, 1), Math.Clamp(box.Y1, 0, 1), Math.Clamp(box.X2, 0, 1), Math.Clamp(box.Y2, 0, 1));
                if (clipped.Width <= 0 || clipped.Height <= 0)
                {
                    problems.Add(new(ProblemSeverity.Warning, "empty-box", annotation.Xml, $"object '{name}' has no area inside the image; skipped"));
                    continue;
                }

                boxes.Add(new LabeledBox(classId, clipped));
            }

            return new DatasetImage(image, boxes, annotation.Xml);
        }

        var splits = new Dictionary<string, DatasetSplit>();
        var splitFolder = Path.Combine(folder, "splits");
        foreach (var split in new[] { "train", "val", "test" })
        {
            var list = Path.Combine(splitFolder, split + ".txt");
            if (File.Exists(list))
            {
                splits[split] = new DatasetSplit(split, DatasetLoader.Reporting(DatasetLoader.ImagesListedIn(list, problems), split, progress).Select(ToImage).OfType<DatasetImage>().ToList());
            }
        }

        if (splits.Count == 0)
        {
            splits["train"] = new DatasetSplit("train", DatasetLoader.Reporting([.. parsed.Keys.Order(StringComparer.Ordinal)], "train", progress).Select(ToImage).OfType<DatasetImage>().ToList());
        }

        DatasetLoader.CheckUsable(names, splits, folder, problems);
        return new Dataset { Source = folder, Format = "voc", Names = names, Splits = splits, Problems = problems };
    }

    private static (string Image, List<(string, float, float, float, float)> Objects, int Width, int Height, int Depth)? Parse(string xml, string folder, List<DatasetProblem> problems)
    {
        XElement root;
        try
        {
            root = XDocument.Load(xml).Root ?? throw new XmlException("no root element");
        }
        catch (XmlException e)
        {
            problems.Add(new(ProblemSeverity.Warning, "bad-annotation", xml, $"not readable XML ({e.Message}); skipped"));
            return null;
        }

        var images = Path.Combine(folder, "images");
        var fileName = (string?)root.Element("filename") ?? Path.GetFileNameWithoutExtension(xml);
        var image = Path.Combine(images, fileName);
        if (!File.Exists(image))
        {
            var withExtension = MediaFiles.ImageExtensions.Select(e => Path.Combine(images, fileName + e)).FirstOrDefault(File.Exists)
                                ?? MediaFiles.ImageExtensions.Select(e => Path.Combine(images, Path.GetFileNameWithoutExtension(xml) + e)).FirstOrDefault(File.Exists);
            if (withExtension is null)
            {
                problems.Add(new(ProblemSeverity.Warning, "missing-image", xml, $"names image '{fileName}', which is not in {images}; skipped"));
                return null;
            }

            if (string.IsNullOrEmpty(Path.GetExtension(fileName)))
            {
                problems.Add(new(ProblemSeverity.Note, "filename-without-extension", xml, $"<filename>{fileName}</filename> has no extension; found {Path.GetFileName(withExtension)}"));
            }

            image = withExtension;
        }

        static float Number(XElement? element) => float.TryParse((string?)element, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : float.NaN;

        var size = root.Element("size");
        var objects = new List<(string, float, float, float, float)>();
        foreach (var item in root.Elements("object"))
        {
            var box = item.Element("bndbox");
            var coordinates = new[] { Number(box?.Element("xmin")), Number(box?.Element("ymin")), Number(box?.Element("xmax")), Number(box?.Element("ymax")) };
            var name = ((string?)item.Element("name"))?.Trim();
            if (name is null || coordinates.Any(float.IsNaN))
            {
                problems.Add(new(ProblemSeverity.Warning, "bad-annotation", xml, "an <object> lacks a name or a complete <bndbox>; skipped"));
                continue;
            }

            // VOC pixel coordinates are 1-based: shifted to 0-based as Ultralytics' VOC conversion does.
            objects.Add((name, coordinates[0] - 1, coordinates[1] - 1, coordinates[2] - 1, coordinates[3] - 1));
        }

        static int Positive(float value) => float.IsNaN(value) || value <= 0 ? 0 : (int)value;
        return (image, objects, Positive(Number(size?.Element("width"))), Positive(Number(size?.Element("height"))), Positive(Number(size?.Element("depth"))));
    }
}

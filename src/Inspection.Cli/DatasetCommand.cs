using System.CommandLine;
using System.Text.Json;
using Inspection.Datasets;

namespace Inspection.Cli;

/// <summary><c>inspection dataset check</c>: loads a dataset the way training will and reports what it found.</summary>
internal static class DatasetCommand
{
    private const int ExamplesPerKind = 5;

    public static Command Create()
    {
        var data = new Argument<string>("data") { Description = "A data.yaml, a VOC folder (annotations/, images/, splits/) or a folder of images with YOLO labels." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var quick = new Option<bool>("--no-image-check") { Description = "Do not decode every image (faster; corrupt images go unnoticed)." };
        var check = new Command("check", "Check a dataset without training: counts, classes and every quirk, with the files they are in.") { data, json, quick };
        check.SetAction(parse =>
        {
            var dataset = DatasetLoader.Load(parse.GetValue(data)!, verifyImages: !parse.GetValue(quick));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    source = dataset.Source,
                    format = dataset.Format,
                    usable = dataset.Usable,
                    names = dataset.Names,
                    splits = dataset.Splits.Values.Select(s => new
                    {
                        name = s.Name,
                        images = s.Images.Count,
                        backgrounds = s.Images.Count(i => i.Boxes.Count == 0),
                        boxes = s.Images.Sum(i => i.Boxes.Count),
                        boxesPerClass = dataset.Names.Select((n, c) => new { name = n, boxes = s.Images.Sum(i => i.Boxes.Count(b => b.ClassId == c)) }),
                    }),
                    problems = dataset.Problems.Select(p => new { severity = p.Severity.ToString().ToLowerInvariant(), kind = p.Kind, file = p.File, message = p.Message }),
                }));
            }
            else
            {
                Print(dataset);
            }

            return dataset.Usable ? ExitCodes.Success : ExitCodes.UserError;
        });

        return new Command("dataset", "Detection datasets.") { check };
    }

    private static void Print(Dataset dataset)
    {
        Console.WriteLine($"{dataset.Source} ({dataset.Format}): {dataset.Names.Count} classes: {string.Join(", ", dataset.Names)}");
        foreach (var split in dataset.Splits.Values)
        {
            var perClass = dataset.Names.Select((n, c) => $"{n} {split.Images.Sum(i => i.Boxes.Count(b => b.ClassId == c))}");
            Console.WriteLine($"  {split.Name,-5} {split.Images.Count,6} images ({split.Images.Count(i => i.Boxes.Count == 0)} background), {split.Images.Sum(i => i.Boxes.Count)} boxes: {string.Join(", ", perClass)}");
        }

        foreach (var group in dataset.Problems.GroupBy(p => (p.Severity, p.Kind)).OrderByDescending(g => g.Key.Severity))
        {
            var count = group.Count();
            Console.WriteLine($"{group.Key.Severity.ToString().ToLowerInvariant()}: {group.Key.Kind} ({count} file{(count == 1 ? string.Empty : "s")})");
            foreach (var problem in group.Take(ExamplesPerKind))
            {
                Console.WriteLine($"  {problem.File}: {problem.Message}");
            }

            if (count > ExamplesPerKind)
            {
                Console.WriteLine($"  ... and {count - ExamplesPerKind} more (--json lists all)");
            }
        }

        var counts = dataset.Problems.GroupBy(p => p.Severity).ToDictionary(g => g.Key, g => g.Count());
        Console.WriteLine($"{(dataset.Usable ? "usable" : "NOT usable")}: {counts.GetValueOrDefault(ProblemSeverity.Error)} errors, {counts.GetValueOrDefault(ProblemSeverity.Warning)} warnings, {counts.GetValueOrDefault(ProblemSeverity.Note)} notes");
    }
}

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
            var dataset = ConsoleProgress.Run(progress => DatasetLoader.Load(parse.GetValue(data)!, verifyImages: !parse.GetValue(quick), Reading(progress)));
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

        return new Command("dataset", "Detection datasets.") { check, Review() };
    }

    /// <summary>A bar for each part of the dataset (a split, VOC annotations) naming the file just read.</summary>
    private static Action<DatasetLoadProgress> Reading(ConsoleProgress progress)
    {
        var bars = new Dictionary<string, ConsoleProgress.Bar>();
        return read =>
        {
            if (!bars.TryGetValue(read.Part, out var bar))
            {
                bars[read.Part] = bar = progress.Add(read.Part);
            }

            bar.Show(read.Done, read.Total, $"{read.Done}/{read.Total} files  {Path.GetFileName(read.File)}");
            if (read.Done == read.Total)
            {
                bar.Finish();
            }
        };
    }

    /// <summary><c>inspection dataset review EVIDENCE [--accept N...] [--reject N...] [--relabel N --labels "..."]</c>.</summary>
    private static Command Review()
    {
        var folder = new Argument<string>("evidence") { Description = "The worker's evidence folder (Inspection:Evidence:Directory)." };
        var accept = new Option<string[]>("--accept") { Description = "Items to accept as they are labelled.", AllowMultipleArgumentsPerToken = true };
        var reject = new Option<string[]>("--reject") { Description = "Items to leave out of training.", AllowMultipleArgumentsPerToken = true };
        var relabel = new Option<string?>("--relabel") { Description = "An item whose labels --labels replaces (it then counts as reviewed)." };
        var labels = new Option<string?>("--labels") { Description = "YOLO label lines for --relabel, separated by ';': \"0 0.5 0.5 0.2 0.1; 0 0.3 0.6 0.1 0.1\" (empty: no defect)." };
        var command = new Command("review", "List collected evidence waiting for review; accept, reject or relabel items (they move to reviewed/ or rejected/).") { folder, accept, reject, relabel, labels };
        command.SetAction(parse =>
        {
            var review = new EvidenceReview(parse.GetValue(folder)!);
            var changed = 0;
            foreach (var name in parse.GetValue(accept) ?? [])
            {
                review.Accept(name);
                changed++;
            }

            foreach (var name in parse.GetValue(reject) ?? [])
            {
                review.Reject(name);
                changed++;
            }

            if (parse.GetValue(relabel) is { } item)
            {
                var lines = (parse.GetValue(labels) ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                review.Relabel(item, lines);
                changed++;
            }

            var pending = review.Pending();
            if (changed > 0)
            {
                Console.WriteLine($"{changed} item(s) reviewed; {pending.Count} waiting.");
                return ExitCodes.Success;
            }

            foreach (var p in pending)
            {
                Console.WriteLine($"{p.Name}  {p.Camera}  {p.CaptureTime:yyyy-MM-dd HH:mm:ss}  {p.Verdict,-7} {(p.PartId is null ? string.Empty : "part " + p.PartId + "  ")}{p.Summary}");
            }

            Console.WriteLine($"{pending.Count} item(s) waiting for review in {review.Folder}.");
            return ExitCodes.Success;
        });
        return command;
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

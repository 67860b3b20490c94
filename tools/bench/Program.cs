using Inspection.Bench;

// Usage: inspection-bench detector [--model M] [--images A,B,...] [--rounds 5] [--seconds 3]
var command = args.FirstOrDefault() ?? "detector";
var options = BenchOptions.Parse(args.Skip(1).ToArray());
switch (command)
{
    case "detector":
        await DetectorBenchmark.RunAsync(options);
        return 0;
    default:
        Console.Error.WriteLine($"inspection-bench: unknown benchmark '{command}'; known: detector.");
        return 2;
}

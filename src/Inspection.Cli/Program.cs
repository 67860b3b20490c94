using System.CommandLine;
using Inspection.Cli;
using Inspection.Core;

var root = new RootCommand("Inspection: real-time visual inspection with YOLO models.");
root.Subcommands.Add(DetectCommand.Create());
root.Subcommands.Add(SourcesCommand.Create());
root.Subcommands.Add(DatasetCommand.Create());
root.Subcommands.Add(ModelsCommand.Create());
root.Subcommands.Add(RetrainCommand.Create());
root.Subcommands.Add(AccessCommands.Broker());
root.Subcommands.Add(AccessCommands.Signing());
foreach (var command in TrainingCommands.Create())
{
    root.Subcommands.Add(command);
}

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"inspection: {error.Message}");
    }

    Console.Error.WriteLine("Run 'inspection --help' for usage.");
    return ExitCodes.UserError;
}

try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (InspectionInputException e)
{
    Console.Error.WriteLine($"inspection: {e.Message}");
    return ExitCodes.UserError;
}
catch (Exception e) when (NativeLibraries.Explain(e) is { } missing)
{
    Console.Error.WriteLine($"inspection: {missing}");
    return ExitCodes.UserError;
}

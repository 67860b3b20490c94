using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Inspection.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Inspection.Worker.Configuration;

/// <summary>
/// Reads the "Inspection" section into <see cref="InspectionOptions"/> and reports, all at once, every key
/// that names no setting (a typo), every value that is not of its setting's type, and every rule the options
/// break. Values with problems are left out of the binding, so the rest can still be checked.
/// </summary>
public static class WorkerConfiguration
{
    private static readonly string[] LogFormats = ["simple", "json", "systemd"];

    public static (InspectionOptions Options, List<string> Problems) Read(IConfiguration configuration)
    {
        var problems = new List<string>();
        var section = configuration.GetSection(InspectionOptions.Section);
        var accepted = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        Shape(section, typeof(InspectionOptions), accepted, problems);
        var options = new ConfigurationBuilder().AddInMemoryCollection(accepted).Build().GetSection(InspectionOptions.Section).Get<InspectionOptions>() ?? new InspectionOptions();
        problems.AddRange(InspectionOptionsValidator.Problems(options));
        if (section.GetSection("Model:MaxBatchSize").Value is { } modelBatch)
        {
            // The model and the batcher must agree on it, so the worker has one setting for both.
            problems.Add($"{InspectionOptions.Section}:Model:MaxBatchSize: {modelBatch} is not read by the worker; set {InspectionOptions.Section}:Batching:MaxBatchSize, which sizes the batches and the model's warm-up and TensorRT profile alike.");
        }

        LogLevels(configuration, problems);
        foreach (var root in configuration.GetChildren().Where(c => IsMisspelled(c.Key)))
        {
            problems.Add($"{root.Path}: there is no such section; the worker's settings go under {InspectionOptions.Section}, so none of these is read.");
        }

        return (options, [.. problems.Select(OneLine)]);
    }

    /// <summary>
    /// A root key one or two keystrokes from "Inspection" (Inspecton, Insepction): a file or environment variables
    /// whose settings would all go unread without a word.
    /// </summary>
    private static bool IsMisspelled(string key)
    {
        var (a, b) = (key.ToLowerInvariant(), InspectionOptions.Section.ToLowerInvariant());
        if (a == b || Math.Abs(a.Length - b.Length) > 2)
        {
            return false;
        }

        // Levenshtein distance, one row at a time.
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                (diagonal, row[j]) = (row[j], Math.Min(Math.Min(row[j], row[j - 1]) + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)));
            }
        }

        return row[b.Length] <= 2;
    }

    /// <summary>
    /// Log levels (Logging:LogLevel:Default, Logging:Console:LogLevel:...): the logging set-up reads them as the host
    /// is built and throws on a name it does not know, without saying where.
    /// </summary>
    private static void LogLevels(IConfiguration configuration, List<string> problems)
    {
        foreach (var child in configuration.GetSection("Logging").GetChildren())
        {
            var levels = child.Key.Equals("LogLevel", StringComparison.OrdinalIgnoreCase) ? child : child.GetSection("LogLevel");
            foreach (var (path, value) in levels.AsEnumerable())
            {
                if (value is { Length: > 0 } && !Enum.TryParse<LogLevel>(value, ignoreCase: true, out _))
                {
                    problems.Add($"{path}: '{value}' is not a log level: one of {string.Join(", ", Enum.GetNames<LogLevel>())}.");
                }
            }
        }

        // An unknown formatter name would leave the console silent.
        var formatter = configuration.GetSection("Logging:Console:FormatterName");
        if (formatter.Value is { Length: > 0 } name && !LogFormats.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            problems.Add($"{formatter.Path}: '{name}' is not a console log format: one of {string.Join(", ", LogFormats)}.");
        }
    }

    /// <summary>A problem as one readable line: line breaks in a value shown as \n, a value pasted by mistake (a whole file) cut in the middle.</summary>
    private static string OneLine(string problem)
    {
        problem = problem.ReplaceLineEndings("\\n");
        return problem.Length <= 400 ? problem : $"{problem[..250]} … ({problem.Length - 350} characters) … {problem[^100..]}";
    }

    /// <summary>
    /// Adds the file given with --config (or INSPECTION_CONFIG), reloaded when it changes. A file that is missing or
    /// cannot be parsed stops the start with one line naming it and, for broken JSON, the line and byte where it
    /// breaks. A later change that breaks it is reported the same way and not applied: the file's provider then
    /// raises no reload, so the rules in force stay.
    /// </summary>
    public static void AddFile(IConfigurationBuilder configuration, string file)
    {
        var path = Path.GetFullPath(file, Environment.CurrentDirectory);
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"the configuration file '{file}' does not exist.");
        }

        var started = false;
        try
        {
            configuration.AddJsonFile(source =>
            {
                source.Path = path;
                source.ReloadOnChange = true;
                source.ResolveFileProvider();
                source.OnLoadException = failure =>
                {
                    if (started)
                    {
                        Console.Error.WriteLine($"inspection-worker: the configuration file '{file}' changed, but it is {Refusal(failure.Exception)}; the change was not applied.");
                    }
                };
            });
            started = true;
        }
        catch (InvalidDataException e)
        {
            throw new InspectionInputException($"the configuration file '{file}' is {Refusal(e)}.", e);
        }
    }

    /// <summary>Why the JSON provider refused a file, to follow "it is": for broken JSON, where (1-based) and what.</summary>
    public static string Refusal(Exception failure)
    {
        var cause = failure;
        while (cause.InnerException is not null)
        {
            cause = cause.InnerException;
        }

        var what = cause.Message;
        if (cause is JsonException { LineNumber: { } line, BytePositionInLine: { } position })
        {
            var where = what.IndexOf(" LineNumber:", StringComparison.Ordinal);
            return $"not valid JSON (line {line + 1}, byte {position + 1}): {(where > 0 ? what[..where] : what).TrimEnd('.')}";
        }

        return $"not usable: {what.TrimEnd('.')}";
    }

    /// <summary>Walks the configuration beside the options' type, keeping each leaf that names a setting and converts to its type.</summary>
    private static void Shape(IConfigurationSection section, Type type, Dictionary<string, string?> accepted, List<string> problems)
    {
        foreach (var child in section.GetChildren())
        {
            var target = ChildType(type, child.Key);
            if (target is null)
            {
                problems.Add($"{child.Path}: there is no such setting; see docs/configuration.md for the settings of {section.Path}.");
                continue;
            }

            if (child.Value is not null && !child.GetChildren().Any())
            {
                var converter = TypeDescriptor.GetConverter(Nullable.GetUnderlyingType(target) ?? target);
                if (child.Value.Length > 0 && !IsScalar(target))
                {
                    problems.Add($"{child.Path}: '{child.Value}' is a single value, but this setting holds several.");
                }
                else if (child.Value.Length > 0 && !converter.IsValid(child.Value))
                {
                    problems.Add($"{child.Path}: '{child.Value}' is not {Describe(target)}.");
                }
                else
                {
                    accepted[child.Path] = child.Value;
                }

                continue;
            }

            Shape(child, target, accepted, problems);
        }
    }

    /// <summary>The type a child key leads to: a property, a list element, or a dictionary value; null when none.</summary>
    private static Type? ChildType(Type type, string key)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            return type.GetGenericArguments()[1];
        }

        if (type.IsArray)
        {
            return int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? type.GetElementType() : null;
        }

        if (type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) && type != typeof(string))
        {
            return int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? type.GetGenericArguments()[0] : null;
        }

        return type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { CanWrite: true } property ? property.PropertyType : null;
    }

    private static bool IsScalar(Type type)
    {
        var plain = Nullable.GetUnderlyingType(type) ?? type;
        return plain.IsPrimitive || plain.IsEnum || plain == typeof(string) || plain == typeof(decimal) || plain == typeof(TimeSpan);
    }

    private static string Describe(Type type)
    {
        var plain = Nullable.GetUnderlyingType(type) ?? type;
        return plain switch
        {
            _ when plain.IsEnum => "one of " + string.Join(", ", Enum.GetNames(plain)),
            _ when plain == typeof(bool) => "true or false",
            _ when plain == typeof(TimeSpan) => "a time span such as 00:00:05",
            _ when plain == typeof(int) || plain == typeof(long) || plain == typeof(uint) => "a whole number",
            _ when plain == typeof(double) || plain == typeof(float) => "a number",
            _ => "a " + plain.Name,
        };
    }
}

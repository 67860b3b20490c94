using System.Collections;
using System.ComponentModel;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Inspection.Worker.Configuration;

/// <summary>
/// Reads the "Inspection" section into <see cref="InspectionOptions"/> and reports, all at once, every key
/// that names no setting (a typo), every value that is not of its setting's type, and every rule the options
/// break. Values with problems are left out of the binding, so the rest can still be checked.
/// </summary>
public static class WorkerConfiguration
{
    public static (InspectionOptions Options, List<string> Problems) Read(IConfiguration configuration)
    {
        var problems = new List<string>();
        var section = configuration.GetSection(InspectionOptions.Section);
        var accepted = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        Shape(section, typeof(InspectionOptions), accepted, problems);
        var options = new ConfigurationBuilder().AddInMemoryCollection(accepted).Build().GetSection(InspectionOptions.Section).Get<InspectionOptions>() ?? new InspectionOptions();
        problems.AddRange(InspectionOptionsValidator.Problems(options));
        return (options, problems);
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
            return int.TryParse(key, out _) ? type.GetElementType() : null;
        }

        if (type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) && type != typeof(string))
        {
            return int.TryParse(key, out _) ? type.GetGenericArguments()[0] : null;
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

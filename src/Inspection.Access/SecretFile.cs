using System.Text.Json;
using System.Text.Json.Serialization;
using Inspection.Core;

namespace Inspection.Access;

/// <summary>The JSON files of this project that hold secrets (password hashes, signing keys): read with clear errors, written owner-only and whole.</summary>
internal static class SecretFile
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <param name="what">What the file is, for messages ("the users file").</param>
    /// <param name="create">How to make one, for the message when it is missing.</param>
    public static T Load<T>(string path, string what, string create)
        where T : class
    {
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"{what} '{path}' does not exist; {create}");
        }

        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllBytes(path), Json) ?? throw new InspectionInputException($"{what} '{path}' is empty");
        }
        catch (JsonException e)
        {
            throw new InspectionInputException($"{what} '{path}' is not valid: {e.Message}");
        }
    }

    /// <summary>Writes a temporary file readable by its owner only from its creation, then moves it in place: never half a file, never readable by others.</summary>
    public static void Save<T>(string path, T value)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        File.Delete(temporary); // left by a run that died: created anew below
        using (var file = OwnerOnlyFile.Create(temporary))
        {
            file.Write(JsonSerializer.SerializeToUtf8Bytes(value, Json));
        }

        File.Move(temporary, path, overwrite: true);
    }
}

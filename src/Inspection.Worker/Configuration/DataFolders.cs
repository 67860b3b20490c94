namespace Inspection.Worker.Configuration;

/// <summary>
/// The folders the worker writes to, checked before anything starts: a read-only volume (a container's data mount
/// given as read-only, a full or remounted disk) is one line and exit code 2, not a stack trace from the first write.
/// Nothing in them is changed: the check writes and removes a file of its own.
/// </summary>
public static class DataFolders
{
    public static IEnumerable<string> Problems(InspectionOptions options)
    {
        var folders = new List<(string Setting, string Path, string Holds)>
        {
            ("Inspection:Mqtt:Queue:Directory", options.Mqtt.Queue.Directory, "the MQTT queue keeps every result there until the broker has it"),
        };
        if (options.Evidence.Enabled)
        {
            folders.Add(("Inspection:Evidence:Directory", options.Evidence.Directory, "NG and uncertain frames are kept there for retraining"));
        }

        if (options.Web.Enabled)
        {
            folders.Add(("Inspection:Web:KeysDirectory", options.Web.KeysDirectory, "the screen's session keys are kept there so that sign-ins survive a restart"));
        }

        if (options.Sparkplug.Enabled)
        {
            folders.Add(("Inspection:Sparkplug:BdSeqFile", Path.GetDirectoryName(Path.GetFullPath(options.Sparkplug.BdSeqFile))!, "the Sparkplug birth/death sequence survives restarts there"));
        }

        foreach (var (setting, path, holds) in folders)
        {
            if (Unwritable(path) is { } reason)
            {
                var where = Path.IsPathRooted(path) ? $"'{path}'" : $"'{path}' ({Path.GetFullPath(path)})";
                yield return $"{setting}: {where} cannot be written ({reason}); {holds}: give it a writable folder or volume.";
            }
        }
    }

    private static string? Unwritable(string folder)
    {
        var probe = Path.Combine(folder, $".write-check-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message.Split(" : ")[0].TrimEnd('.');
        }
    }
}

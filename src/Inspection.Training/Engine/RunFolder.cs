using System.Globalization;
using Inspection.Core;

namespace Inspection.Training.Engine;

/// <summary>Where runs go without --out, as Ultralytics puts them: runs/detect/train, train2, train3, ...</summary>
public static class RunFolder
{
    public const string DefaultProject = "runs/detect";
    public const string DefaultName = "train";

    /// <summary>project/name, or the first free project/name2, name3, ... unless <paramref name="existOk"/> (increment_path).</summary>
    public static string Next(string project, string name, bool existOk)
    {
        var path = Path.Combine(project, name);
        if (existOk || !Exists(path))
        {
            return path;
        }

        for (var n = 2; ; n++)
        {
            var numbered = Path.Combine(project, name + n.ToString(CultureInfo.InvariantCulture));
            if (!Exists(numbered))
            {
                return numbered;
            }
        }
    }

    /// <summary>The run under <paramref name="project"/> that saved last: what --resume continues when no folder is named (get_latest_run).</summary>
    public static string Latest(string project)
    {
        var states = Directory.Exists(project)
            ? Directory.EnumerateFiles(project, Trainer.StateFile, SearchOption.AllDirectories).Select(file => new FileInfo(file)).ToList()
            : [];
        return states.Count > 0
            ? states.MaxBy(state => state.LastWriteTimeUtc)!.DirectoryName!
            : throw new InspectionInputException($"Nothing to resume under '{project}': no run there has a {Trainer.StateFile}. Name the run with --out, or start without --resume.");
    }

    /// <summary>Creates the run folder, or says in one line why it cannot be written (a read-only root, another user's folder).</summary>
    public static void Create(string path)
    {
        try
        {
            Directory.CreateDirectory(Path.Combine(path, "weights"));
        }
        catch (Exception error) when (error is UnauthorizedAccessException or IOException)
        {
            throw new InspectionInputException($"The run folder '{Path.GetFullPath(path)}' cannot be written ({error.Message.TrimEnd('.')}); give --project or --out a writable folder.");
        }
    }

    private static bool Exists(string path) => Directory.Exists(path) || File.Exists(path);
}

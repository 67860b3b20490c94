namespace Inspection.Worker.Pipeline;

/// <summary>Files that ship with the repository (the demo model and pictures), found from wherever the worker runs.</summary>
public static class BundledFiles
{
    public const string DemoModel = "models/workpiece-crack/workpiece-crack-yolov8n-320.onnx";
    public const string DemoPictures = "models/workpiece-crack/demo";

    /// <summary>The first of the application's folder and its parents that holds <paramref name="relative"/>; null when none does.</summary>
    public static string? Find(string relative)
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, relative);
            if (File.Exists(candidate) || Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

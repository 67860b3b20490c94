using System.Collections.Frozen;

namespace Inspection.Core;

/// <summary>
/// Which files are pictures and which are videos, by extension (any case). One list for <c>inspection detect</c>,
/// folder cameras and the dataset loaders, so a picture one of them reads is not silently left out by another.
/// </summary>
public static class MediaFiles
{
    /// <summary>
    /// What OpenCV's imread decodes, most common first: a VOC annotation naming its image without an extension
    /// takes the first of these that exists. GIF is not here: OpenCV reads it as a video.
    /// </summary>
    public static readonly IReadOnlyList<string> ImageExtensions =
        [".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm", ".jp2", ".dib"];

    /// <summary>Containers and raw streams OpenCV's VideoCapture (through FFmpeg) opens as a file, and animated GIF.</summary>
    public static readonly IReadOnlyList<string> VideoExtensions =
        [".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".gif", ".h264", ".h265", ".hevc", ".mjpeg"];

    private static readonly FrozenSet<string> Images = ImageExtensions.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    private static readonly FrozenSet<string> Videos = VideoExtensions.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public static bool IsImage(string path) => Images.Contains(Path.GetExtension(path));

    public static bool IsVideo(string path) => Videos.Contains(Path.GetExtension(path));
}

using Inspection.Core;
using OpenCvSharp;

namespace Inspection.Cli;

/// <summary>One decoded picture from a detect source: a still image or one frame of a video.</summary>
internal sealed record MediaItem(string Source, int? Frame, Mat Image, double Fps = 0) : IDisposable
{
    public void Dispose() => Image.Dispose();
}

/// <summary>Reads what <c>inspection detect --source</c> names: an image, a folder of images, or a video file.</summary>
internal static class MediaInput
{
    /// <summary>
    /// Yields the source's pictures in order. A single bad file throws; a bad file in a folder is reported
    /// through <paramref name="skipped"/> and the rest still run. Before the first picture, <paramref name="counted"/>
    /// tells how many the source holds and what they are: images, or frames (as many as the video's header says).
    /// </summary>
    public static IEnumerable<MediaItem> Read(string source, Action<string> skipped, Action<int, string> counted)
    {
        if (Directory.Exists(source))
        {
            var files = Directory.EnumerateFiles(source)
                .Where(f => MediaFiles.IsImage(f) && !Path.GetFileName(f).StartsWith("._", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .ToList();
            if (files.Count == 0)
            {
                throw new InspectionInputException($"Folder '{source}' holds no images ({string.Join(", ", MediaFiles.ImageExtensions)}).");
            }

            counted(files.Count, "images");

            foreach (var file in files)
            {
                MediaItem? item = null;
                try
                {
                    item = ReadImage(file);
                }
                catch (InspectionInputException e)
                {
                    skipped(e.Message);
                }

                if (item is not null)
                {
                    yield return item;
                }
            }

            yield break;
        }

        if (!File.Exists(source))
        {
            throw new InspectionInputException($"Source '{source}' does not exist; give an image, a folder of images or a video file.");
        }

        if (MediaFiles.IsVideo(source))
        {
            foreach (var frame in ReadVideo(source, counted))
            {
                yield return frame;
            }

            yield break;
        }

        var image = ReadImage(source);
        counted(1, "images");
        yield return image;
    }

    private static MediaItem ReadImage(string path)
    {
        // IMREAD_COLOR as Ultralytics reads: BGR, EXIF orientation applied, alpha dropped, gray expanded.
        var image = Cv2.ImRead(path, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new InspectionInputException($"'{path}' is not an image OpenCV can read (corrupt, empty or another format).");
        }

        return new MediaItem(path, null, image);
    }

    private static IEnumerable<MediaItem> ReadVideo(string path, Action<int, string> counted)
    {
        using var capture = new VideoCapture(path);
        if (!capture.IsOpened())
        {
            throw new InspectionInputException($"'{path}' is not a video OpenCV can open (corrupt or an unsupported codec).");
        }

        counted(Math.Max(capture.FrameCount, 0), "frames");

        var fps = capture.Fps > 0 ? capture.Fps : 25;
        for (var index = 0; ; index++)
        {
            var frame = new Mat();
            if (!capture.Read(frame) || frame.Empty())
            {
                frame.Dispose();
                if (index == 0)
                {
                    throw new InspectionInputException($"'{path}' has no frame OpenCV can decode.");
                }

                yield break;
            }

            yield return new MediaItem(path, index, frame, fps);
        }
    }
}

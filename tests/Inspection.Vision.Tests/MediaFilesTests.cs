using Inspection.Core;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Vision.Tests;

public sealed class MediaFilesTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A listed extension the shipped OpenCV cannot decode would make every such picture a "corrupt" one.</summary>
    [Fact]
    public void Every_image_extension_is_one_the_shipped_OpenCV_reads()
    {
        // Black and white, so PBM's single bit stores it too; PBM and PGM take it gray, PPM in colour. At least
        // 32 pixels a side: OpenJPEG's default six resolution levels need them.
        using var gray = new Mat(48, 64, MatType.CV_8UC1, Scalar.All(0));
        gray.Rectangle(new Rect(16, 12, 32, 24), Scalar.All(255), -1);
        using var color = gray.CvtColor(ColorConversionCodes.GRAY2BGR);
        foreach (var extension in MediaFiles.ImageExtensions)
        {
            var path = _folder.File("picture" + extension);
            Assert.True(Cv2.ImWrite(path, extension == ".ppm" ? color : gray), $"OpenCV wrote no {extension}");
            using var read = Cv2.ImRead(path, ImreadModes.Color);
            Assert.False(read.Empty(), $"OpenCV read no {extension}");
            Assert.Equal(gray.Size(), read.Size());
        }
    }

    [Theory]
    [InlineData("/data/line1/part.JPG", true, false)]
    [InlineData("part.Pgm", true, false)]
    [InlineData("clip.MP4", false, true)]
    [InlineData("line1.h264", false, true)]
    [InlineData("loop.gif", false, true)] // OpenCV reads GIF through VideoCapture, as Ultralytics does
    [InlineData("labels.txt", false, false)]
    [InlineData("/data/jpg", false, false)]
    public void A_file_is_a_picture_or_a_video_by_its_extension_in_any_case(string path, bool image, bool video)
    {
        Assert.Equal(image, MediaFiles.IsImage(path));
        Assert.Equal(video, MediaFiles.IsVideo(path));
    }
}

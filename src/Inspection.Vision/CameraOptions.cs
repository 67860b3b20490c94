using System.ComponentModel.DataAnnotations;

namespace Inspection.Vision;

/// <summary>What a camera source does when its consumer is slower than the camera.</summary>
public enum BufferPolicy
{
    /// <summary>Keep the newest frames, drop the oldest (live cameras: inspect what is in front of the lens now).</summary>
    DropOldest,

    /// <summary>Deliver every frame, holding the source back until the consumer takes it (files, offline runs).</summary>
    DeliverAll,
}

/// <summary>How a source reads its URI; Auto decides from the URI.</summary>
public enum SourceKind
{
    Auto,
    File,
    Folder,
    Device,
    Mjpeg,
    Ffmpeg,
}

public enum RtspTransport
{
    Tcp,
    Udp,
}

public enum HardwareDecoding
{
    None,

    /// <summary>NVDEC through <c>ffmpeg -hwaccel cuda</c>.</summary>
    Cuda,
}

/// <summary>One camera. Bound from configuration (Inspection:Cameras:N) and validated at start.</summary>
public class CameraOptions
{
    /// <summary>A short name used in topics, metrics and logs.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", ErrorMessage = "Camera ids are 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit.")]
    public string Id { get; set; } = string.Empty;

    /// <summary>
    /// rtsp://, rtsps://, rtmp://, srt://, an HLS .m3u8 URL (through ffmpeg); http(s):// (multipart MJPEG);
    /// a video file; a folder or a glob of images (/data/parts/*.jpg); a device (/dev/video0, device:0).
    /// </summary>
    [Required]
    public string Uri { get; set; } = string.Empty;

    public SourceKind Kind { get; set; } = SourceKind.Auto;

    public BufferPolicy Policy { get; set; } = BufferPolicy.DropOldest;

    /// <summary>Frames waiting for the consumer at most; the latest-frame buffer's size.</summary>
    [Range(1, 64)]
    public int BufferCapacity { get; set; } = 2;

    /// <summary>
    /// Frames the consumers may hold at once beyond the buffer; bounds the camera's memory. Null: <see cref="DefaultFramesInFlight"/>
    /// (the worker gives each camera enough for its share of the batches in flight).
    /// </summary>
    [Range(1, 256)]
    public int? MaxFramesInFlight { get; set; }

    public const int DefaultFramesInFlight = 8;

    /// <summary>Files and folders: start again at the end.</summary>
    public bool Loop { get; set; }

    /// <summary>Files: play at the file's own timing, as a camera would; false reads as fast as the consumer takes.</summary>
    public bool Realtime { get; set; } = true;

    /// <summary>Folders: pictures per second.</summary>
    [Range(0.01, 1000)]
    public double FolderFps { get; set; } = 2;

    /// <summary>At most this many frames per second are delivered; the rest are dropped at the source. 0: no cap.</summary>
    [Range(0, 1000)]
    public double MaxFps { get; set; }

    /// <summary>
    /// How far below the detector the camera's reading and decoding run (Linux nice, 0-19; 0: the same). Decoding
    /// several streams competes with inference for the cores: below it, the detector never waits for a decoder.
    /// </summary>
    [Range(0, 19)]
    public int Nice { get; set; } = 5;

    /// <summary>Output size for ffmpeg streams (0: the stream's own); frames are scaled to it.</summary>
    [Range(0, 16384)]
    public int Width { get; set; }

    [Range(0, 16384)]
    public int Height { get; set; }

    public RtspTransport Transport { get; set; } = RtspTransport.Tcp;

    public string? Username { get; set; }

    /// <summary>Never logged. May also come from an environment variable or a mounted secret file (see docs).</summary>
    public string? Password { get; set; }

    public HardwareDecoding HardwareDecoding { get; set; } = HardwareDecoding.None;

    /// <summary>Connecting gives up after this long.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The watchdog restarts a streaming source that delivered no frame for this long.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between attempts; short, so a camera that comes back is seen within seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The ffmpeg executable for network streams.</summary>
    public string FfmpegPath { get; set; } = "ffmpeg";

    public IntegrityOptions Integrity { get; set; } = new();
}

/// <summary>Thresholds of the image-integrity checks; see <see cref="FrameIntegrityChecker"/>.</summary>
public sealed class IntegrityOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>A picture unchanged for this long is Frozen.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan FrozenAfter { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Gray levels (0-255) a pixel may change by between two frames of a frozen picture (compression noise).</summary>
    [Range(0, 255)]
    public double FrozenTolerance { get; set; } = 1;

    /// <summary>Mean brightness (0-255) below which a frame is Black.</summary>
    [Range(0, 255)]
    public double BlackLevel { get; set; } = 12;

    /// <summary>Brightness standard deviation (0-255) below which a frame is Blank.</summary>
    [Range(0, 255)]
    public double BlankContrast { get; set; } = 4;

    /// <summary>Variance of the Laplacian of the gray sample (about 320 px wide) below which a frame is Blurred. 0 disables the check.</summary>
    [Range(0, 1e6)]
    public double BlurThreshold { get; set; } = 15;
}

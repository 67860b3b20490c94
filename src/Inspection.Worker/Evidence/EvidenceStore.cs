using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Inspection.Core;
using Inspection.Datasets;
using Inspection.Inference;
using Inspection.Worker.Configuration;
using Inspection.Worker.Observability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inspection.Worker.Evidence;

/// <summary>A frame worth keeping: its JPEG and the result that made it so.</summary>
public sealed record EvidenceItem(byte[] Jpeg, InspectionResult Result, string Kind);

/// <summary>
/// Keeps NG frames and a sample of uncertain ones as a YOLO dataset that 'inspection train' and 'inspection
/// dataset check' read as it is (written by <see cref="YoloDatasetWriter"/>): data.yaml, images/NAME.jpg,
/// labels/NAME.txt (the model's detections as pseudo-labels) and meta/NAME.json (camera, time, model, verdict,
/// part, and the detections as <see cref="DetectionJson"/> writes them everywhere). Names start with the capture
/// time, so the oldest go first when the folder passes its quota. Every path is checked to stay inside the folder.
/// </summary>
public sealed class EvidenceStore : BackgroundService
{
    private long _lastFailureLog = long.MinValue / 2;
    private static readonly string[] Parts = ["images", "labels", "meta"];
    private readonly EvidenceOptions _options;
    private readonly ILogger<EvidenceStore> _logger;
    private readonly WorkerMetrics _metrics;
    private readonly Channel<EvidenceItem> _queue;
    private readonly Queue<(string Name, long Bytes)> _kept = new();
    private IReadOnlyList<string>? _names;
    private YoloDatasetWriter? _dataset;
    private long _bytes;

    public EvidenceStore(IOptions<InspectionOptions> options, WorkerMetrics metrics, ILogger<EvidenceStore> logger)
    {
        _options = options.Value.Evidence;
        _logger = logger;
        _metrics = metrics;
        Root = Path.GetFullPath(_options.Directory);
        _queue = Channel.CreateBounded<EvidenceItem>(new BoundedChannelOptions(_options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        metrics.EvidenceQuotaBytes.Set(_options.MaxMegabytes * 1024 * 1024);
        if (_options.Enabled)
        {
            metrics.BeforeScrape(() => metrics.SetVolumeFree("evidence", Root));
        }
    }

    public string Root { get; }

    /// <summary>Whether a frame with this verdict and uncertainty is to be kept; uncertain frames are sampled.</summary>
    public string? KindToKeep(Verdict verdict, bool uncertain) => !_options.Enabled ? null
        : verdict == Verdict.Ng && _options.SaveNg ? "ng"
        : uncertain && Random.Shared.NextDouble() < _options.UncertainSampleRate ? "uncertain"
        : null;

    /// <summary>
    /// Encodes the frame now (it is about to be reused) and queues it for writing; false when the writer is behind,
    /// and the frame was dropped and counted.
    /// </summary>
    public bool Offer(in ImageView image, InspectionResult result, string kind)
    {
        var item = new EvidenceItem(MatImage.EncodeJpeg(image, _options.JpegQuality), result, kind);
        if (_queue.Writer.TryWrite(item))
        {
            return true;
        }

        _metrics.Evidence.WithLabels(kind, "dropped").Inc();
        return false;
    }

    /// <summary>The class names the labels refer to; written to data.yaml.</summary>
    public void UseClassNames(IReadOnlyList<string> names) => _names = names;

    /// <summary>
    /// The full path of <paramref name="relative"/> inside the evidence folder; refuses (with
    /// <see cref="InspectionInputException"/>) any name that would land outside it.
    /// </summary>
    public string Inside(string relative)
    {
        var full = Path.GetFullPath(Path.Combine(Root, relative));
        if (!full.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InspectionInputException($"refused to write '{relative}': it is outside the evidence folder {Root}");
        }

        return full;
    }

    /// <summary>A file name made of the result: capture time, camera, sequence and (cleaned) part id.</summary>
    public static string NameOf(InspectionResult result)
    {
        var name = new StringBuilder()
            .Append(result.CaptureTime.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff", CultureInfo.InvariantCulture))
            .Append('_').Append(result.CameraId).Append('_').Append(result.Sequence.ToString(CultureInfo.InvariantCulture));
        if (result.PartId is { Length: > 0 } part)
        {
            name.Append('_');
            foreach (var c in part.Take(64))
            {
                name.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-');
            }
        }

        return name.ToString();
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete(); // write what is queued, then stop
        return base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        _dataset = new YoloDatasetWriter(Root);
        _dataset.CreateFolders();
        Directory.CreateDirectory(Path.Combine(Root, "meta"));

        IndexExisting();
        await foreach (var item in _queue.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                Write(item);
                _metrics.Evidence.WithLabels(item.Kind, "saved").Inc();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InspectionInputException)
            {
                _metrics.Evidence.WithLabels(item.Kind, "failed").Inc();
                if (Environment.TickCount64 - _lastFailureLog >= 10_000)
                {
                    _lastFailureLog = Environment.TickCount64; // a full disk fails every item: one line every 10 s
                    _logger.LogError("Evidence for {Camera} frame {Sequence} not saved: {Reason} (counted in inspection_evidence_total{{outcome=\"failed\"}}).", item.Result.CameraId, item.Result.Sequence, e.Message);
                }
            }
        }
    }

    private void Write(EvidenceItem item)
    {
        var result = item.Result;
        var name = NameOf(result);
        WriteDataYaml();
        var image = Inside($"images/{name}.jpg");
        var labels = Inside($"labels/{name}.txt");
        var meta = Inside($"meta/{name}.json");
        File.WriteAllBytes(image, item.Jpeg);
        YoloDatasetWriter.WriteLabels(image, result.Detections.Select(d => LabeledBox.FromPixels(d.ClassId, d.Box, result.Width, result.Height)));
        WriteMeta(meta, item);

        var bytes = new FileInfo(image).Length + new FileInfo(labels).Length + new FileInfo(meta).Length;
        _kept.Enqueue((name, bytes));
        _bytes += bytes;
        var quota = _options.MaxMegabytes * 1024 * 1024;
        while (_bytes > quota && _kept.Count > 1)
        {
            var (oldest, size) = _kept.Dequeue();
            File.Delete(Inside($"images/{oldest}.jpg"));
            File.Delete(Inside($"labels/{oldest}.txt"));
            File.Delete(Inside($"meta/{oldest}.json"));
            _bytes -= size;
            _metrics.Evidence.WithLabels("any", "deleted_for_quota").Inc();
        }

        _metrics.EvidenceBytes.Set(_bytes);
    }

    /// <summary>
    /// What the worker knew of the frame. The detections are written as the MQTT result carries them (score to 4
    /// decimals, box to 0.1 px): retraining makes pseudo-labels of these boxes, and a tenth of a pixel is far below
    /// a detection's own error. Files written before kept more digits; readers take either.
    /// </summary>
    private static void WriteMeta(string path, EvidenceItem item)
    {
        var result = item.Result;
        using var file = File.Create(path);
        using var json = new Utf8JsonWriter(file);
        json.WriteStartObject();
        json.WriteString("resultId", result.Id); // links the picture to the result published for it
        json.WriteString("camera", result.CameraId);
        json.WriteNumber("sequence", result.Sequence);
        json.WriteString("captureTime", result.CaptureTime.UtcDateTime);
        json.WriteStartObject("model");
        json.WriteString("name", result.ModelName);
        json.WriteString("version", result.ModelVersion);
        json.WriteEndObject();
        json.WriteString("verdict", Messaging.ResultJson.VerdictText(result.Verdict));
        json.WriteString("reason", result.Reason);
        json.WriteString("partId", result.PartId);
        json.WriteString("kind", item.Kind);
        DetectionJson.WriteArray(json, "detections", result.Detections, result.ClassName);
        json.WriteEndObject();
    }

    private void WriteDataYaml()
    {
        if (_names is null || File.Exists(_dataset!.DataYamlPath))
        {
            return;
        }

        _dataset.WriteDataYaml(_names, "images", "images", "Evidence kept by the inspection worker; labels are the model's detections (pseudo-labels).");
    }

    private void IndexExisting()
    {
        foreach (var image in Directory.EnumerateFiles(Path.Combine(Root, "images"), "*.jpg").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(image);
            var bytes = Parts.Zip([".jpg", ".txt", ".json"]).Select(p => Path.Combine(Root, p.First, name + p.Second)).Where(File.Exists).Sum(f => new FileInfo(f).Length);
            _kept.Enqueue((name, bytes));
            _bytes += bytes;
        }

        _metrics.EvidenceBytes.Set(_bytes);
        _logger.LogInformation("Evidence goes to {Root} ({Count} items, {Megabytes:0.0} MB of {Quota} MB kept).", Root, _kept.Count, _bytes / 1048576.0, _options.MaxMegabytes);
    }
}

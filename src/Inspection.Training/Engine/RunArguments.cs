using System.Globalization;
using System.Text;
using Inspection.Core;
using Inspection.Training.Nn;
using Inspection.Training.Utils;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Inspection.Training.Engine;

/// <summary>
/// A run's settings under Ultralytics' names (cfg/default.yaml): written to args.yaml, and read back from a
/// <c>--cfg</c> file, so that an Ultralytics args.yaml or hyperparameter file trains the same here.
/// </summary>
public static class RunArguments
{
    /// <summary>Each setting Inspection honours: how to read it into the options and how to write it.</summary>
    private static readonly (string Key, Func<TrainOptions, string, TrainOptions> Read, Func<TrainOptions, object> Write)[] Settings =
    [
        ("data", (o, v) => o with { Data = v }, o => o.Data),
        ("epochs", (o, v) => o with { Epochs = Int(v) }, o => o.Epochs),
        ("patience", (o, v) => o with { Patience = Int(v) }, o => o.Patience),
        ("batch", (o, v) => o with { Batch = Int(v) }, o => o.Batch),
        ("imgsz", (o, v) => o with { ImageSize = Int(v) }, o => o.ImageSize),
        ("cache", (o, v) => o with { CacheImages = Cache(v) }, o => o.CacheImages ? "ram" : false),
        ("device", (o, v) => o with { Device = v }, o => o.Device),
        ("optimizer", (o, v) => o with { Optimizer = v }, o => o.Optimizer),
        ("seed", (o, v) => o with { Seed = Int(v) }, o => o.Seed),
        ("cos_lr", (o, v) => o with { CosineLr = Bool(v) }, o => o.CosineLr),
        ("close_mosaic", (o, v) => o with { CloseMosaic = Int(v) }, o => o.CloseMosaic),
        ("lr0", (o, v) => o with { Lr0 = Number(v) }, o => o.Lr0),
        ("lrf", (o, v) => o with { Lrf = Number(v) }, o => o.Lrf),
        ("momentum", (o, v) => o with { Momentum = Number(v) }, o => o.Momentum),
        ("weight_decay", (o, v) => o with { WeightDecay = Number(v) }, o => o.WeightDecay),
        ("warmup_epochs", (o, v) => o with { WarmupEpochs = Number(v) }, o => o.WarmupEpochs),
        ("warmup_momentum", (o, v) => o with { WarmupMomentum = Number(v) }, o => o.WarmupMomentum),
        ("warmup_bias_lr", (o, v) => o with { WarmupBiasLr = Number(v) }, o => o.WarmupBiasLr),
        ("box", (o, v) => o with { BoxGain = Number(v) }, o => o.BoxGain),
        ("cls", (o, v) => o with { ClassGain = Number(v) }, o => o.ClassGain),
        ("dfl", (o, v) => o with { DflGain = Number(v) }, o => o.DflGain),
        ("nbs", (o, v) => o with { NominalBatch = Int(v) }, o => o.NominalBatch),
        ("hsv_h", (o, v) => o with { Augment = o.Augment with { HueGain = Number(v) } }, o => o.Augment.HueGain),
        ("hsv_s", (o, v) => o with { Augment = o.Augment with { SaturationGain = Number(v) } }, o => o.Augment.SaturationGain),
        ("hsv_v", (o, v) => o with { Augment = o.Augment with { ValueGain = Number(v) } }, o => o.Augment.ValueGain),
        ("translate", (o, v) => o with { Augment = o.Augment with { Translate = Number(v) } }, o => o.Augment.Translate),
        ("scale", (o, v) => o with { Augment = o.Augment with { Scale = Number(v) } }, o => o.Augment.Scale),
        ("fliplr", (o, v) => o with { Augment = o.Augment with { FlipLeftRight = Number(v) } }, o => o.Augment.FlipLeftRight),
        ("mosaic", (o, v) => o with { Augment = o.Augment with { Mosaic = Number(v) } }, o => o.Augment.Mosaic),
    ];

    /// <summary>Ultralytics settings that do not change what is trained here (where it is saved, logging, workers, AMP on a CPU build).</summary>
    private static readonly HashSet<string> WithoutEffect =
        ["task", "mode", "save", "save_period", "save_dir", "project", "name", "exist_ok", "resume", "workers", "verbose", "plots", "val", "pretrained", "amp", "deterministic", "time", "fraction", "profile", "freeze", "split", "save_json", "conf", "iou", "max_det", "half", "dnn"];

    /// <summary>Augmentations Inspection does not implement: accepted at Ultralytics' default, which switches them off.</summary>
    private static readonly Dictionary<string, double> OffByDefault = new()
    {
        ["degrees"] = 0, ["shear"] = 0, ["perspective"] = 0, ["flipud"] = 0, ["mixup"] = 0, ["copy_paste"] = 0, ["bgr"] = 0, ["cutmix"] = 0,
    };

    /// <summary>args.yaml: every setting the run honours, under Ultralytics' keys, with what it starts from and where it saves.</summary>
    public static void Write(TrainOptions options, ModelScale scale, string path)
    {
        var yaml = new StringBuilder()
            .AppendLine("task: detect")
            .AppendLine("mode: train")
            .AppendLine(CultureInfo.InvariantCulture, $"model: {Scalar(options.Weights ?? $"yolov8{scale.Name}.yaml")}");
        foreach (var (key, _, write) in Settings)
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"{key}: {Scalar(write(options))}");
        }

        yaml.AppendLine(CultureInfo.InvariantCulture, $"save_dir: {Scalar(Path.GetFullPath(options.Output))}");
        File.WriteAllText(path, yaml.ToString());
    }

    /// <summary>The options with a --cfg file's settings applied; <c>model</c> names the starting weights (a .pt or .weights) or the scale (yolov8s.yaml).</summary>
    public static TrainOptions Apply(TrainOptions options, string path)
    {
        foreach (var (key, value, line) in Read(path))
        {
            var where = $"'{key}: {value}' in {path} (line {line})";
            try
            {
                options = key switch
                {
                    "model" when value.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) => options with { Scale = ModelScale.Parse(ScaleOfYaml(value, where)).Name },
                    "model" => options with { Weights = value },
                    _ when Settings.FirstOrDefault(setting => setting.Key == key) is { Read: { } read } => read(options, value),
                    _ when WithoutEffect.Contains(key) => options,
                    _ when OffByDefault.TryGetValue(key, out var off) && Number(value) == off => options,
                    _ when OffByDefault.ContainsKey(key) => throw new InspectionInputException($"Inspection does not implement the {key} augmentation; remove it or set it to 0"),
                    _ => throw new InspectionInputException($"it is not a training setting Inspection knows (known: {string.Join(", ", Settings.Select(s => s.Key))})"),
                };
            }
            catch (InspectionInputException error)
            {
                throw new InspectionInputException($"{where}: {error.Message.TrimEnd('.')}.");
            }
        }

        return options;
    }

    private static IEnumerable<(string Key, string Value, long Line)> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new InspectionInputException($"--cfg '{path}' does not exist.");
        }

        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlException error)
        {
            throw new InspectionInputException($"--cfg '{path}' is not valid YAML at line {error.Start.Line}: {error.Message}");
        }

        if (stream.Documents.Count == 0)
        {
            return [];
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode mapping)
        {
            throw new InspectionInputException($"--cfg '{path}' is not a mapping of settings (key: value per line).");
        }

        return mapping.Children.Select(entry => entry.Value is YamlScalarNode { Value: var value } && entry.Key is YamlScalarNode { Value: { } key }
            ? (key, value ?? "null", entry.Key.Start.Line)
            : throw new InspectionInputException($"--cfg '{path}' line {entry.Key.Start.Line}: a setting must be 'key: value', not a list or a nested mapping."));
    }

    private static string ScaleOfYaml(string model, string where) =>
        Path.GetFileNameWithoutExtension(model).ToLowerInvariant() switch
        {
            "yolov8n" => "n",
            "yolov8s" => "s",
            _ => throw new InspectionInputException($"{where}: Inspection builds yolov8n.yaml and yolov8s.yaml."),
        };

    private static string Scalar(object value) => value switch
    {
        bool flag => flag ? "true" : "false",
        double number => PythonFormat.General(number),
        int number => number.ToString(CultureInfo.InvariantCulture),
        string text when text.Length == 0 || text.Any(c => c is ':' or '#' or '\'' or '"') || text != text.Trim() => $"'{text.Replace("'", "''", StringComparison.Ordinal)}'",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture)!,
    };

    private static int Int(string value) => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : throw new InspectionInputException("expected a whole number");

    private static double Number(string value) => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? number : throw new InspectionInputException("expected a number");

    private static bool Bool(string value) => value.ToLowerInvariant() switch
    {
        "true" => true,
        "false" => false,
        _ => throw new InspectionInputException("expected true or false"),
    };

    /// <summary>Ultralytics' cache setting: ram (or true) and false are honoured; disk is not implemented.</summary>
    public static bool Cache(string value, string? option = null) => value.ToLowerInvariant() switch
    {
        "ram" or "true" => true,
        "false" or "null" => false,
        "disk" => throw new InspectionInputException($"{(option is null ? "" : $"{option} {value}: ")}Inspection caches in RAM only: use ram"),
        _ => throw new InspectionInputException($"{(option is null ? "" : $"{option} {value}: ")}expected ram or false"),
    };
}

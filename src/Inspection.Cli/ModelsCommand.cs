using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using Inspection.Core;
using Inspection.Inference;
using Inspection.Models;
using Inspection.Training.Engine;
using Inspection.Training.Export;
using Inspection.Training.Nn;

namespace Inspection.Cli;

/// <summary>
/// <c>inspection models list|show|register|promote|rollback|keygen|sign|verify</c>: the model registry from the
/// command line. Keys are given as files only, and no command prints a private key.
/// </summary>
internal static class ModelsCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Command Create()
    {
        var registry = new Option<string>("--registry") { Description = "The registry folder.", Required = true };
        var name = new Option<string>("--name") { Description = "The model's name in the registry.", Required = true };
        var version = new Option<int>("--version") { Description = "A version number.", Required = true };

        var list = new Command("list", "Every model, its versions and which one is current.") { registry };
        list.SetAction(parse =>
        {
            var models = new ModelRegistry(parse.GetValue(registry)!);
            foreach (var model in models.Names)
            {
                var current = models.Pointer(model)?.Version;
                Console.WriteLine(model);
                foreach (var v in models.Versions(model))
                {
                    var metrics = string.Join(", ", v.Card.Metrics.Select(m => $"{m.Key} {m.Value:0.000}"));
                    Console.WriteLine($"  {(v.Version == current ? "*" : " ")} {v.Version,3}  {v.Card.Created:yyyy-MM-dd HH:mm}  {(v.Card.Parent is { } p ? $"from {p}" : "new"),-8} {metrics}");
                }
            }

            return ExitCodes.Success;
        });

        var showVersion = new Option<int?>("--version") { Description = "A version; the current one by default." };
        var show = new Command("show", "A version's card (model.json) and where its files are.") { registry, name, showVersion };
        show.SetAction(parse =>
        {
            var models = new ModelRegistry(parse.GetValue(registry)!);
            var model = parse.GetValue(showVersion) is { } v ? models.Get(parse.GetValue(name)!, v)
                : models.Current(parse.GetValue(name)!) ?? throw new InspectionInputException($"'{parse.GetValue(name)}' has no current version; give --version.");
            Console.WriteLine(JsonSerializer.Serialize(new { model.Card, model.Folder, golden = model.HasGoldenSet, current = models.Pointer(model.Name) }, Json));
            return ExitCodes.Success;
        });

        var promote = new Command("promote", "Make a version the current one; workers following the registry swap to it after their checks.") { registry, name, version };
        promote.SetAction(parse =>
        {
            var pointer = new ModelRegistry(parse.GetValue(registry)!).Promote(parse.GetValue(name)!, parse.GetValue(version), "promoted from the command line");
            Console.WriteLine($"{parse.GetValue(name)}: version {pointer.Version} is current.");
            return ExitCodes.Success;
        });

        var rollback = new Command("rollback", "Go back to the version that was current before.") { registry, name };
        rollback.SetAction(parse =>
        {
            var pointer = new ModelRegistry(parse.GetValue(registry)!).Rollback(parse.GetValue(name)!, "rolled back from the command line");
            Console.WriteLine($"{parse.GetValue(name)}: version {pointer.Version} is current again.");
            return ExitCodes.Success;
        });

        return new Command("models", "The model registry.") { list, show, Register(registry, name), promote, rollback, Keygen(), Sign(registry, name, version), Verify(registry, name, version) };
    }

    private static Command Keygen()
    {
        var output = new Option<string>("--out") { Description = "The folder for the key pair; existing keys are never overwritten.", Required = true };
        var command = new Command("keygen", "Make an ECDSA P-256 key pair for signing model versions.") { output };
        command.SetAction(parse =>
        {
            var (privateKey, publicKey, keyId) = SigningKeys.Generate(parse.GetValue(output)!);
            Console.WriteLine($"Private key: {privateKey} (mode 0600; keep it offline or in a secret store, it signs what the line runs)");
            Console.WriteLine($"Public key:  {publicKey} (give it to workers as Inspection:Model:PublicKeyFile)");
            Console.WriteLine($"Key id:      {keyId}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Sign(Option<string> registry, Option<string> name, Option<int> version) => WithKey(
        "sign", "Sign a version: its model, card, checkpoint and golden set, as they are now (signature.json).",
        "The private key file (PKCS#8 PEM from 'models keygen').", registry, name, version, SigningKeys.LoadPrivateKey,
        (model, key) => $"{model.Name} version {model.Version}: signed by key {SigningKeys.KeyId(key)} ({ModelSignature.Sign(model, key).Count} files) in {Path.Combine(model.Folder, ModelSignature.FileName)}");

    private static Command Verify(Option<string> registry, Option<string> name, Option<int> version) => WithKey(
        "verify", "Check that a version is signed by this key and unchanged since; exit 2 with the reason when not.",
        "The public key file (SubjectPublicKeyInfo PEM from 'models keygen').", registry, name, version, SigningKeys.LoadPublicKey,
        (model, key) => $"{model.Name} version {model.Version}: signature valid, key {SigningKeys.KeyId(key)}, {ModelSignature.Verify(model, key).Count} files unchanged.");

    /// <summary>A command on one version with a key file (--key, a path: keys never come on the command line), printing one line.</summary>
    private static Command WithKey(
        string command, string description, string keyDescription, Option<string> registry, Option<string> name, Option<int> version,
        Func<string, ECDsa> load, Func<RegisteredModel, ECDsa, string> run)
    {
        var key = new Option<string>("--key") { Description = keyDescription, Required = true };
        var result = new Command(command, description) { registry, name, version, key };
        result.SetAction(parse =>
        {
            using var loaded = load(parse.GetValue(key)!);
            Console.WriteLine(run(new ModelRegistry(parse.GetValue(registry)!).Get(parse.GetValue(name)!, parse.GetValue(version)), loaded));
            return ExitCodes.Success;
        });
        return result;
    }

    private static Command Register(Option<string> registry, Option<string> name)
    {
        var model = new Option<string?>("--model") { Description = "An ONNX model to register as it is." };
        var weights = new Option<string?>("--weights") { Description = "A checkpoint from inspection train: exported to ONNX and kept beside it for fine-tuning." };
        var golden = new Option<string[]>("--golden") { Description = "Images for the golden set; the model's detections on them become its expected ones.", AllowMultipleArgumentsPerToken = true };
        var promote = new Option<bool>("--promote") { Description = "Also make it the current version." };
        var command = new Command("register", "Add a model to the registry as its next version.") { registry, name, model, weights, golden, promote };
        command.SetAction(async parse =>
        {
            var models = new ModelRegistry(parse.GetValue(registry)!);
            var registered = await RegisterModelAsync(models, parse.GetValue(name)!, parse.GetValue(model), parse.GetValue(weights), parse.GetValue(golden) ?? [], new Dictionary<string, double>(), parent: null, datasetFingerprint: null, arguments: new Dictionary<string, string>());
            if (parse.GetValue(promote))
            {
                models.Promote(registered.Name, registered.Version, "registered and promoted from the command line");
            }

            Console.WriteLine($"{registered.Name}: registered version {registered.Version}{(parse.GetValue(promote) ? " (current)" : string.Empty)} in {registered.Folder}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Registers an ONNX model, or a checkpoint exported to ONNX, with a golden set recorded from the model itself.</summary>
    public static async Task<RegisteredModel> RegisterModelAsync(
        ModelRegistry models, string name, string? onnx, string? weights, IReadOnlyList<string> goldenImages,
        IReadOnlyDictionary<string, double> metrics, int? parent, string? datasetFingerprint, IReadOnlyDictionary<string, string> arguments)
    {
        if ((onnx is null) == (weights is null))
        {
            throw new InspectionInputException("give either --model (an ONNX file) or --weights (a checkpoint to export).");
        }

        var temporary = Path.Combine(Path.GetTempPath(), $"inspection-register-{Guid.NewGuid():N}.onnx");
        try
        {
            if (weights is not null)
            {
                var (scale, classNames, imageSize) = Checkpoint.ReadDescription(weights);
                using var network = new DetectionModel(scale, classNames);
                network.load(weights);
                OnnxExporter.Export(network, imageSize, temporary, version: $"{name}");
                onnx = temporary;
            }

            List<(string, IReadOnlyList<GoldenDetection>)> recorded;
            ModelInfo info;
            await using (var detector = YoloDetector.Open(new DetectorOptions { ModelPath = onnx!, Providers = [ExecutionProvider.Cpu], ConcurrentBatches = 1 }))
            {
                recorded = [.. goldenImages.Select(image => (image, GoldenCheck.Detect(detector, image)))];
                info = detector.Model;
            }

            var card = new ModelCard
            {
                Name = name,
                Version = 0,
                Sha256 = string.Empty,
                Created = DateTimeOffset.UtcNow,
                Parent = parent,
                Classes = info.Names,
                ImageSize = info.InputWidth,
                Metrics = metrics,
                DatasetFingerprint = datasetFingerprint,
                TrainingArguments = arguments,
            };
            return models.Register(name, onnx!, card, weights, recorded.Count == 0 ? null : folder => GoldenSet.Create(folder, recorded));
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}

using System.CommandLine;
using System.Text.Json;
using Inspection.Core;
using Inspection.Retraining;
using Inspection.Training;
using Inspection.Training.Engine;
using Microsoft.Extensions.Logging;

namespace Inspection.Cli;

/// <summary>
/// <c>inspection retrain</c>: one run (for a cron job or a Kubernetes CronJob), or with --schedule a service
/// that runs on a cron schedule. Each run writes report.json and report.md, and with --mqtt-host publishes
/// its summary on {prefix}/{site}/{line}/service/retrain (and each epoch's on .../service/training).
/// </summary>
internal static class RetrainCommand
{
    public static Command Create()
    {
        var registry = new Option<string>("--registry") { Description = "The model registry.", Required = true };
        var name = new Option<string>("--name") { Description = "The model to retrain; its current version is the start.", Required = true };
        var data = new Option<string>("--data") { Description = "The base dataset (data.yaml, VOC or YOLO folder).", Required = true };
        var evidence = new Option<string?>("--evidence") { Description = "The worker's evidence folder; its reviewed items are added." };
        var pseudo = new Option<double?>("--pseudo-labels-above") { Description = "Also add unreviewed evidence, labelled with the model's detections scoring at least this." };
        var holdout = new Option<string?>("--holdout") { Description = "A dataset whose val split is the fixed holdout (the base dataset's val split by default)." };
        var epochs = new Option<int>("--epochs") { Description = "Fine-tuning epochs.", DefaultValueFactory = _ => 10 };
        var batch = new Option<int>("--batch") { Description = "Images per batch.", DefaultValueFactory = _ => 16 };
        var device = new Option<string>("--device") { Description = "auto, cpu, a GPU id such as 0, or cuda:N.", DefaultValueFactory = _ => "auto" };
        var margin = new Option<double>("--margin") { Description = "Promote when the new fitness is at least the current one's less this.", DefaultValueFactory = _ => 0.0 };
        var optimizer = new Option<string>("--optimizer") { Description = "auto, SGD or AdamW.", DefaultValueFactory = _ => "auto" };
        var lr0 = new Option<double?>("--lr0") { Description = "Initial learning rate." };
        var warmup = new Option<double>("--warmup-epochs") { Description = "Warm-up epochs (0: none).", DefaultValueFactory = _ => 3.0 };
        var output = new Option<string>("--out") { Description = "Run folders go below this.", DefaultValueFactory = _ => "runs/retrain" };
        var signKey = new Option<string?>("--sign-key") { Description = "A private key file (PKCS#8 PEM from 'models keygen'): sign the version this run registers; the current version must be signed by it." };
        var schedule = new Option<string?>("--schedule") { Description = "A cron expression (\"0 2 * * *\", or six fields with seconds): keep running and retrain on this schedule." };
        var command = new Command("retrain", "Fine-tune the registry's current model on collected evidence, compare on a fixed holdout, register, and promote if not worse.")
        {
            registry, name, data, evidence, pseudo, holdout, epochs, batch, device, margin, optimizer, lr0, warmup, output, signKey, schedule,
        };
        TrainingTelemetry.Options.ToList().ForEach(command.Options.Add);
        command.SetAction(async (parse, cancel) =>
        {
            TrainingDevice.RequireLibTorch();
            var options = new RetrainOptions
            {
                Registry = parse.GetValue(registry)!,
                Name = parse.GetValue(name)!,
                Data = parse.GetValue(data)!,
                Output = parse.GetValue(output)!,
                Evidence = parse.GetValue(evidence),
                PseudoLabelsAbove = parse.GetValue(pseudo),
                Holdout = parse.GetValue(holdout),
                Epochs = parse.GetValue(epochs),
                Batch = parse.GetValue(batch),
                Device = parse.GetValue(device)!,
                Margin = parse.GetValue(margin),
                Optimizer = parse.GetValue(optimizer)!,
                Lr0 = parse.GetValue(lr0),
                WarmupEpochs = parse.GetValue(warmup),
                SignKey = parse.GetValue(signKey),
            };
            using var loggers = Logging.Create(verbose: true);
            var logger = loggers.CreateLogger("Inspection.Retraining");
            await using var telemetry = TrainingTelemetry.Start(parse, options.Device, Path.Combine(options.Output, ".mqtt-queue"), logger);
            if (parse.GetValue(schedule) is not { } cron)
            {
                var report = await RunOnceAsync(options, telemetry, logger, cancel);
                Console.WriteLine(JsonSerializer.Serialize(report));
                return ExitCodes.Success;
            }

            await new RetrainSchedule(cron).RunAsync(run => RunOnceAsync(options, telemetry, logger, run), logger, cancel);
            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<RetrainReport> RunOnceAsync(RetrainOptions options, TrainingTelemetry telemetry, ILogger logger, CancellationToken cancel)
    {
        RetrainReport report;
        try
        {
            report = await ConsoleProgress.RunAsync(async progress =>
            {
                var phases = progress.Add($"retrain {options.Name}");
                var count = Enum.GetValues<RetrainPhase>().Length;
                var training = (TrainingProgress p) =>
                {
                    telemetry.Observe(p);
                    progress.Show(p);
                };
                var done = await new Retrainer(options, logger, training, phase => phases.Show((int)phase, count, $"{(int)phase + 1}/{count} {phase.ToString().ToLowerInvariant()}")).RunAsync(cancel);
                phases.Finish();
                return done;
            });
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            telemetry.RunEnded("failed", new { options.Name, promoted = false, decision = $"failed: {e.Message}" });
            throw;
        }

        telemetry.RunEnded(report.Promoted ? "promoted" : "kept", new { report.Name, current = report.Current, candidate = report.Candidate, report.Promoted, report.Decision, report.RunFolder, durationSeconds = Math.Round(report.Duration.TotalSeconds, 1) });
        return report;
    }
}

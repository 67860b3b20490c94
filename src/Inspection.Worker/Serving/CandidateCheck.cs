using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Core;
using Inspection.Inference;
using Inspection.Models;
using Inspection.Vision;
using Inspection.Worker.Rules;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Worker.Serving;

/// <summary>
/// A candidate model checked in a child process before the worker loads it: the worker's own program in its
/// hidden <c>--check-model</c> mode loads it on the CPU provider, checks the contract (input size, the classes the
/// rules name) and the golden set, and prints one JSON line, exit code 0 (admitted) or 2 (refused, with the
/// reason). A model that crashes ONNX Runtime natively, hangs or exhausts memory then costs a refusal, not the
/// worker, and on a GPU no TensorRT engine is built for a model that did not pass. The child runs at a lower
/// priority on one thread, so the serving model keeps the CPU, and dies with the worker (setpriv's pdeathsig).
/// <code>
/// inspection-worker --check-model MODEL.onnx [--golden DIR] [--input-size WxH] [--class NAME]... [--image-size N] [--nms Managed]
/// </code>
/// </summary>
public static class CandidateCheck
{
    public const string Flag = "--check-model";
    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }; // one line a person reads too
    private static readonly Dictionary<int, string> Signals = new() { [4] = "SIGILL", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [11] = "SIGSEGV", [15] = "SIGTERM" };

    /// <summary>What the child checks: the model file, its golden set, and what it must keep of the serving model and the rules.</summary>
    public sealed record Request(string ModelPath, string? GoldenFolder, (int Width, int Height)? InputSize, IReadOnlyList<string> Classes, int? ImageSize, NmsPlacement Nms);

    /// <summary>
    /// Runs the check in a child process; returns when the model was admitted, throws
    /// <see cref="InspectionInputException"/> with the reason when it was refused, or the child died (killed,
    /// crashed) or did not finish within <paramref name="timeout"/>.
    /// </summary>
    public static async Task CheckAsync(Request request, TimeSpan timeout)
    {
        var start = Command();
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        foreach (var argument in Arguments(request))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = ChildProcesses.Start(start);
        try
        {
            process.PriorityClass = ProcessPriorityClass.BelowNormal;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited already; its output says how.
        }

        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using (var deadline = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                ChildProcesses.Stop(process, TimeSpan.FromSeconds(5));
                throw new InspectionInputException(string.Create(CultureInfo.InvariantCulture, $"the model check (process {process.Id}) did not finish within {timeout.TotalSeconds:0.#} s and was stopped; a model that hangs on loading is refused (Inspection:Model:CheckTimeout)."));
            }
        }

        var lastLine = (await output.ConfigureAwait(false)).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        var verdict = Parse(lastLine);
        if (process.ExitCode == 0 && verdict?["ok"]?.GetValue<bool>() == true)
        {
            return;
        }

        if (process.ExitCode == 2 && verdict?["reason"]?.GetValue<string>() is { } reason)
        {
            throw new InspectionInputException(reason);
        }

        var stderr = (await errors.ConfigureAwait(false)).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        var how = process.ExitCode > 128 ? $"was killed by signal {process.ExitCode - 128}{(Signals.TryGetValue(process.ExitCode - 128, out var name) ? $" ({name})" : string.Empty)}"
            : $"exited with code {process.ExitCode}";
        throw new InspectionInputException($"the model check (process {process.Id}) {how} before it gave a verdict{(stderr is null ? string.Empty : $"; it said: {Shorten(stderr)}")}. A model that crashes its check is refused.");
    }

    /// <summary>
    /// The child's side: checks the model as asked and prints one JSON line, {"ok": true, ...} with exit code 0 or
    /// {"ok": false, "reason": "..."} with exit code 2. Anything unexpected crashes it, which its parent reports.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var request = ParseArguments(args);
            await using var detector = YoloDetector.Open(new DetectorOptions
            {
                ModelPath = request.ModelPath,
                Providers = [ExecutionProvider.Cpu],
                IntraOpThreads = 1,
                ImageSize = request.ImageSize,
                Nms = request.Nms,
            });
            var info = detector.Model;
            if (request.InputSize is { } size)
            {
                RequireInputSize($"'{request.ModelPath}'", info, size);
            }

            RuleBook.RequireClasses(request.Classes, info.Names);
            var goldenImages = 0;
            if (request.GoldenFolder is { } folder)
            {
                var golden = GoldenSet.Load(folder);
                var failures = GoldenCheck.Run(detector, golden);
                if (failures.Count > 0)
                {
                    throw new InspectionInputException($"the model fails its golden set: {string.Join("; ", failures)}");
                }

                goldenImages = golden.Images.Count;
            }

            Console.WriteLine(new JsonObject
            {
                ["ok"] = true,
                ["input"] = $"{info.InputWidth}x{info.InputHeight}",
                ["classes"] = new JsonArray([.. info.Names.Select(n => (JsonNode?)n)]),
                ["goldenImages"] = goldenImages,
                ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3),
            }.ToJsonString(Readable));
            return 0;
        }
        catch (Exception e) when (e is InspectionInputException or OnnxRuntimeException or IOException or UnauthorizedAccessException)
        {
            Console.WriteLine(new JsonObject { ["ok"] = false, ["reason"] = e.Message, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3) }.ToJsonString(Readable));
            return 2;
        }
    }

    /// <summary>Throws <see cref="InspectionInputException"/> unless the model takes <paramref name="size"/> images (the serving model's).</summary>
    public static void RequireInputSize(string who, ModelInfo info, (int Width, int Height) size)
    {
        if ((info.InputWidth, info.InputHeight) != size)
        {
            throw new InspectionInputException($"{who} takes {info.InputWidth}x{info.InputHeight} images, the serving model {size.Width}x{size.Height}.");
        }
    }

    /// <summary>The worker's own program: its executable when it runs as one (also single-file), else the dotnet host with its assembly.</summary>
    private static ProcessStartInfo Command()
    {
        var assembly = typeof(CandidateCheck).Assembly.Location; // empty in a single-file app
        var host = Environment.ProcessPath;
        if (host is not null && (assembly.Length == 0 || Path.GetFileNameWithoutExtension(host) == Path.GetFileNameWithoutExtension(assembly)))
        {
            return new ProcessStartInfo(host) { UseShellExecute = false };
        }

        var start = new ProcessStartInfo(host is not null && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet") { UseShellExecute = false };
        start.ArgumentList.Add(assembly);
        return start;
    }

    private static IEnumerable<string> Arguments(Request request)
    {
        yield return Flag;
        yield return request.ModelPath;
        if (request.GoldenFolder is { } golden)
        {
            yield return "--golden";
            yield return golden;
        }

        if (request.InputSize is { } size)
        {
            yield return "--input-size";
            yield return string.Create(CultureInfo.InvariantCulture, $"{size.Width}x{size.Height}");
        }

        foreach (var name in request.Classes)
        {
            yield return "--class";
            yield return name;
        }

        if (request.ImageSize is { } imageSize)
        {
            yield return "--image-size";
            yield return imageSize.ToString(CultureInfo.InvariantCulture);
        }

        if (request.Nms != NmsPlacement.InGraph)
        {
            yield return "--nms";
            yield return request.Nms.ToString();
        }
    }

    private static Request ParseArguments(string[] args)
    {
        if (args is not [Flag, var model, .. var rest] || rest.Length % 2 != 0)
        {
            throw new InspectionInputException($"usage: inspection-worker {Flag} MODEL.onnx [--golden DIR] [--input-size WxH] [--class NAME]... [--image-size N] [--nms Managed]");
        }

        string? golden = null;
        (int, int)? inputSize = null;
        int? imageSize = null;
        var nms = NmsPlacement.InGraph;
        var classes = new List<string>();
        for (var i = 0; i < rest.Length; i += 2)
        {
            var (option, value) = (rest[i], rest[i + 1]);
            switch (option)
            {
                case "--golden":
                    golden = value;
                    break;
                case "--input-size" when value.Split('x') is [var w, var h] && int.TryParse(w, CultureInfo.InvariantCulture, out var width) && int.TryParse(h, CultureInfo.InvariantCulture, out var height):
                    inputSize = (width, height);
                    break;
                case "--class":
                    classes.Add(value);
                    break;
                case "--image-size" when int.TryParse(value, CultureInfo.InvariantCulture, out var size):
                    imageSize = size;
                    break;
                case "--nms" when Enum.TryParse<NmsPlacement>(value, out var placement):
                    nms = placement;
                    break;
                default:
                    throw new InspectionInputException($"'{option} {value}' is not an option of {Flag}.");
            }
        }

        return new Request(model, golden, inputSize, classes, imageSize, nms);
    }

    private static JsonNode? Parse(string? line)
    {
        try
        {
            return line is null ? null : JsonNode.Parse(line);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inspection.Core;
using Inspection.TestSupport;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Configuration;

namespace Inspection.Worker.Tests;

public sealed partial class ConfigurationTests
{
    private static readonly string Example = Path.Combine(SharedData.RepositoryRoot, "deploy", "worker", "appsettings.example.json");

    [Fact]
    public void Typos_wrong_types_and_broken_rules_are_all_reported_with_their_paths()
    {
        var (_, problems) = WorkerConfiguration.Read(Configuration(new()
        {
            ["Inspection:Camers:0:Uri"] = "x",
            ["Inspection:Batching:MaxBatchSize"] = "eight",
            ["Inspection:Cameras:0:Id"] = "a",
            ["Inspection:Cameras:0:Uri"] = "/dev/null",
            ["Inspection:Cameras:0:Mode"] = "Sometimes",
            ["Inspection:Rules:Confidence"] = "1.5",
        }));

        Assert.Contains(problems, p => p.StartsWith("Inspection:Camers: there is no such setting", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Batching:MaxBatchSize: 'eight' is not a whole number", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Cameras:0:Mode: 'Sometimes' is not one of Continuous, Triggered", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Rules:Confidence:", StringComparison.Ordinal));
        Assert.Equal(4, problems.Count);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65")]
    public void Concurrent_batches_out_of_range_are_refused_with_their_path(string value)
    {
        var (_, problems) = WorkerConfiguration.Read(Configuration(new() { ["Inspection:Model:ConcurrentBatches"] = value }));
        var problem = Assert.Single(problems);
        Assert.StartsWith("Inspection:Model:ConcurrentBatches: The field ConcurrentBatches must be between 1 and 64", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_defaults_are_valid()
    {
        var (options, problems) = WorkerConfiguration.Read(Configuration([]));
        Assert.Empty(problems);
        Assert.Equal("http://127.0.0.1:9400", options.Http.Url);
        Assert.True(options.Mqtt.UsesEmbeddedBroker);
    }

    [Fact]
    public void Configured_providers_replace_the_default_list_and_the_device_setting_picks_them()
    {
        var (cpuOnly, problems) = WorkerConfiguration.Read(Configuration(new() { ["Inspection:Model:Providers:0"] = "Cpu" }));
        Assert.Empty(problems);
        Assert.Equal([Inference.ExecutionProvider.Cpu], cpuOnly.Model.Providers); // not appended to TensorRT, Cuda, Cpu

        var (defaults, _) = WorkerConfiguration.Read(Configuration([]));
        Assert.Equal([Inference.ExecutionProvider.TensorRT, Inference.ExecutionProvider.Cuda, Inference.ExecutionProvider.Cpu], defaults.Model.ProvidersToTry);
    }

    [Fact]
    public void The_model_batch_size_is_set_once_under_batching_and_a_model_section_one_is_refused_not_ignored()
    {
        var (_, problems) = WorkerConfiguration.Read(Configuration(new() { ["Inspection:Model:MaxBatchSize"] = "16" }));
        var problem = Assert.Single(problems);
        Assert.StartsWith("Inspection:Model:MaxBatchSize: 16 is not read by the worker; set Inspection:Batching:MaxBatchSize", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_configuration_with_five_mistakes_stops_the_worker_with_all_five_and_no_stack_trace()
    {
        using var folder = new TempFolder();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Cameras:0:Id"] = "line-1",
            ["Inspection:Cameras:0:Uri"] = "ftp://camera/stream",                    // 1: a scheme nobody reads
            ["Inspection:Cameras:1:Id"] = "line-1",                                  // 2: the same id twice
            ["Inspection:Cameras:1:Uri"] = "/dev/null",
            ["Inspection:Cameras:1:Rules:Regions:0"] = "0.1,0.1 0.9,0.1",           // 3: a region of two points
            ["Inspection:Batching:MaxBatchSize"] = "0",                              // 4: out of range
            ["Inspection:Model:ModelPath"] = "/nonexistent/model.onnx",              // 5: no such model
        });

        var exit = worker.WaitForExit(TimeSpan.FromSeconds(60));
        var output = string.Join("\n", worker.Lines);
        Assert.Equal(2, exit);
        Assert.Contains("the configuration has 5 problem(s)", output);
        Assert.Contains("Inspection:Cameras:0:Uri", output);
        Assert.Contains("Inspection:Cameras:1:Id: 'line-1' is used by another camera", output);
        Assert.Contains("Inspection:Cameras:1:Rules:Regions:0", output);
        Assert.Contains("Inspection:Batching:MaxBatchSize", output);
        Assert.Contains("Inspection:Model:ModelPath: '/nonexistent/model.onnx' does not exist", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public void The_annotated_example_configuration_is_valid_but_for_the_files_of_a_real_plant()
    {
        var (options, problems) = WorkerConfiguration.Read(new ConfigurationBuilder().AddJsonFile(Example).Build());
        Assert.Equal(["Inspection:Mqtt:PasswordFile", "Inspection:Mqtt:CaFile"], problems.Select(p => p[..p.IndexOf(": ", StringComparison.Ordinal)]));
        Assert.Equal(["press-1", "station-2"], options.Cameras.Select(c => c.Id));
        Assert.Equal(InspectionMode.Triggered, options.Cameras[1].Mode);
        Assert.True(options.Sparkplug.Enabled);
        Assert.Equal("ignition", options.Sparkplug.PrimaryHostId);
    }

    [Fact]
    public void Output_settings_are_checked_like_the_others()
    {
        var (_, problems) = WorkerConfiguration.Read(Configuration(new()
        {
            ["Inspection:Mqtt:JsonResults"] = "false",                   // and no Sparkplug: nothing would carry the results
            ["Inspection:Mqtt:Buffer:Policy"] = "DropSome",
            ["Inspection:Sparkplug:Buffer:Capacity"] = "0",
            ["Inspection:Sparkplug:GroupId"] = "plant/1",
            ["Inspection:Sparkplug:Reporting"] = "Sometimes",
        }));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Mqtt:Buffer:Policy: 'DropSome' is not one of Block, DropOldest, DropNewest", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Sparkplug:Buffer:Capacity:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Sparkplug:GroupId:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Sparkplug:Reporting: 'Sometimes' is not one of EveryFrame, ByException", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Inspection:Mqtt:JsonResults: false, and Sparkplug is not enabled either", StringComparison.Ordinal));
        Assert.Equal(5, problems.Count);
    }

    [Fact]
    public void A_camera_file_or_folder_that_does_not_exist_is_reported_with_its_path_and_streams_and_devices_are_not_checked()
    {
        using var folder = new TempFolder();
        var (_, problems) = WorkerConfiguration.Read(Configuration(new()
        {
            ["Inspection:Cameras:0:Id"] = "video",
            ["Inspection:Cameras:0:Uri"] = folder.File("line1.mp4"),
            ["Inspection:Cameras:1:Id"] = "glob",
            ["Inspection:Cameras:1:Uri"] = folder.File("parts/*.jpg"),
            ["Inspection:Cameras:2:Id"] = "folder",
            ["Inspection:Cameras:2:Uri"] = folder.File("parts"),
            ["Inspection:Cameras:2:Kind"] = "Folder",
            ["Inspection:Cameras:3:Id"] = "there",
            ["Inspection:Cameras:3:Uri"] = folder.Path + "/*.jpg",
            ["Inspection:Cameras:4:Id"] = "rtsp",
            ["Inspection:Cameras:4:Uri"] = "rtsp://192.0.2.1/stream",
            ["Inspection:Cameras:5:Id"] = "device",
            ["Inspection:Cameras:5:Uri"] = "/dev/video42",
        }));

        Assert.Equal(
        [
            $"Inspection:Cameras:0:Uri: the file '{folder.File("line1.mp4")}' does not exist.",
            $"Inspection:Cameras:1:Uri: the folder '{folder.File("parts")}' of '{folder.File("parts/*.jpg")}' does not exist.",
            $"Inspection:Cameras:2:Uri: the folder '{folder.File("parts")}' does not exist.",
        ], problems);
    }

    [Fact]
    public void A_missing_video_file_stops_the_worker_naming_the_camera_and_its_path()
    {
        using var folder = new TempFolder();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Cameras:0:Id"] = "line-1",
            ["Inspection:Cameras:0:Uri"] = "/data/nowhere/line1.mp4",
        });

        Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains("  - Inspection:Cameras:0:Uri: the file '/data/nowhere/line1.mp4' does not exist.", worker.Lines);
        Assert.DoesNotContain(worker.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public void A_truncated_configuration_file_stops_the_worker_with_one_line_naming_the_file_and_where_it_breaks()
    {
        using var folder = new TempFolder();
        var file = folder.File("truncated.json");
        var text = File.ReadAllText(Example);
        File.WriteAllText(file, text[..(text.Length / 2)]);
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>(), "--config", file);

        Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(60)));
        var line = Assert.Single(worker.Lines, l => l.Length > 0);
        Assert.Matches($@"^inspection-worker: the configuration file '{Regex.Escape(file)}' is not valid JSON \(line \d+, byte \d+\): \S", line);
    }

    [Theory]
    [InlineData("taken", "address already in use; another process listens there: set Inspection:Http:Url (metrics and health) or Inspection:Web:Url (the screen), whichever has that address, to a free address")]
    [InlineData("http://192.0.2.1:9400", "Inspection:Http:Url names an address this machine does not have")]
    public void An_http_address_the_worker_cannot_listen_on_stops_it_with_one_line_after_stopping_what_had_started(string url, string expected)
    {
        using var folder = new TempFolder();
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Http:Url"] = url == "taken" ? $"http://127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}" : url,
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Inspection:Mqtt:Queue:Directory"] = folder.File("queue"),
            ["Inspection:Evidence:Enabled"] = "false",
        });

        // Exit code 1, not a crash (139: a model disposed of under a batch the pipeline was still running).
        Assert.Equal(1, worker.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains(worker.Lines, l => l.StartsWith("inspection-worker: cannot start: ", StringComparison.Ordinal) && l.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Log_levels_and_a_misspelled_section_are_reported_like_the_settings()
    {
        var (_, problems) = WorkerConfiguration.Read(Configuration(new()
        {
            ["Logging:LogLevel:Default"] = "Verbose",
            ["Logging:Console:LogLevel:Inspection"] = "Loud",
            ["Logging:LogLevel:Microsoft"] = "warning",
            ["Inspecton:Cameras:0:Uri"] = "/dev/video0",
        }));

        Assert.Equal(
        [
            "Logging:Console:LogLevel:Inspection: 'Loud' is not a log level: one of Trace, Debug, Information, Warning, Error, Critical, None.",
            "Logging:LogLevel:Default: 'Verbose' is not a log level: one of Trace, Debug, Information, Warning, Error, Critical, None.",
            "Inspecton: there is no such section; the worker's settings go under Inspection, so none of these is read.",
        ], problems);
    }

    /// <summary>
    /// Damaged copies of the annotated example (cut short, a bit flipped, a value of another type: a number, an object,
    /// a megabyte of text, an object nested past the parser's depth; bytes that are not UTF-8), each read as the
    /// worker reads its --config file: every one is refused with problems that each start with their configuration
    /// path, or with one line naming the file and where its JSON breaks; nothing else escapes. Two go through the
    /// real worker too, which must exit with 2 and print no stack trace.
    /// </summary>
    [Fact]
    public async Task Damaged_copies_of_the_annotated_example_are_refused_with_paths_or_a_parse_error_and_never_a_stack_trace()
    {
        using var folder = new TempFolder();
        var mutations = Mutations(File.ReadAllBytes(Example), new Random(20261201)).ToList();
        var refusals = new List<(string File, IReadOnlyList<string> Lines)>();
        foreach (var (what, bytes) in mutations)
        {
            var file = folder.File($"mutation-{refusals.Count}.json");
            await File.WriteAllBytesAsync(file, bytes);
            var lines = await RefusalAsync(file, what);
            Assert.True(lines.Count > 0, $"{what}: accepted");
            Assert.All(lines, l => Assert.True(l.Length < 600 && !l.Contains('\n') && !l.Contains("   at ", StringComparison.Ordinal), $"{what}: {l}"));
            if (lines is [var single] && single.StartsWith("the configuration file", StringComparison.Ordinal))
            {
                Assert.Matches($@"^the configuration file '{Regex.Escape(file)}' is (not valid JSON \(line \d+, byte \d+\)|not usable): \S", single);
            }
            else
            {
                Assert.All(lines, l => Assert.Matches(ConfigurationPath(), l));
            }

            refusals.Add((file, lines));
        }

        Assert.Equal(36, refusals.Count);
        foreach (var (file, lines) in new[] { refusals[0], refusals[^1] })
        {
            using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>(), "--config", file);
            Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.All(lines, l => Assert.Contains(worker.Lines, printed => printed.EndsWith(l, StringComparison.Ordinal)));
            Assert.DoesNotContain(worker.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
        }
    }

    /// <summary>What the worker would print for this --config file: its problems, or the one line refusing the file.</summary>
    private static async Task<IReadOnlyList<string>> RefusalAsync(string file, string what)
    {
        try
        {
            var (app, problems) = WorkerApp.Build(["--config", file]);
            if (app is not null)
            {
                await app.DisposeAsync();
                Assert.Fail($"{what}: the damaged configuration was taken as valid");
            }

            return problems;
        }
        catch (InspectionInputException e)
        {
            return [e.Message];
        }
    }

    /// <summary>36 damaged copies of a JSON configuration, the same for the same seed.</summary>
    private static IEnumerable<(string What, byte[] Bytes)> Mutations(byte[] example, Random random)
    {
        var end = Array.LastIndexOf(example, (byte)'}'); // cut anywhere before the root's closing brace
        for (var i = 0; i < 8; i++)
        {
            var at = random.Next(end);
            yield return ($"cut at byte {at}", example[..at]);
        }

        for (var i = 0; i < 16; i++)
        {
            var (copy, at, bit) = ((byte[])example.Clone(), random.Next(example.Length), random.Next(8));
            copy[at] ^= (byte)(1 << bit);
            yield return ($"bit {bit} of byte {at} flipped", copy);
        }

        var values = "\": \""u8.ToArray();
        for (var i = 0; i < 2; i++)
        {
            // Bytes that are no UTF-8 at the start of a string value.
            var starts = Enumerable.Range(0, example.Length - values.Length).Where(at => example.AsSpan(at).StartsWith(values)).ToList();
            var at = starts[random.Next(starts.Count)] + values.Length;
            yield return ($"bytes that are not UTF-8 at byte {at}", [.. example[..at], 0xC3, 0x28, 0xFF, .. example[at..]]);
        }

        Func<JsonNode?>[] others =
        [
            () => "x", () => 12345, () => true, () => null, () => new JsonArray(1, 2), () => new JsonObject { ["a"] = new JsonObject { ["b"] = 1 } },
            () => new string('y', 1 << 20), () => Nested(70), () => 1e308, () => -1,
        ];
        for (var i = 0; i < others.Length; i++)
        {
            var root = JsonNode.Parse(example, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })!;
            var leaves = Leaves(root).ToList();
            var leaf = leaves[random.Next(leaves.Count)];
            var path = leaf.GetPath();
            var other = others[i]();
            switch (leaf.Parent)
            {
                case JsonObject parent:
                    parent[leaf.GetPropertyName()] = other;
                    break;
                case JsonArray parent:
                    parent[leaf.GetElementIndex()] = other;
                    break;
            }

            var shown = other?.ToJsonString() ?? "null";
            yield return ($"{path} replaced by {shown[..Math.Min(40, shown.Length)]}", Encoding.UTF8.GetBytes(root.ToJsonString()));
        }
    }

    private static IEnumerable<JsonNode> Leaves(JsonNode node) => node switch
    {
        JsonObject o => o.Select(p => p.Value).OfType<JsonNode>().SelectMany(Leaves),
        JsonArray a => a.OfType<JsonNode>().SelectMany(Leaves),
        _ => [node],
    };

    private static JsonObject Nested(int depth) => depth == 1 ? new JsonObject { ["deep"] = 1 } : new JsonObject { ["deep"] = Nested(depth - 1) };

    /// <summary>A problem: a configuration path (no spaces), then ": " and what is wrong.</summary>
    [GeneratedRegex(@"^[A-Za-z][^\s]*: \S")]
    private static partial Regex ConfigurationPath();

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}

using Inspection.TestSupport;
using Inspection.Worker.Configuration;
using Microsoft.Extensions.Configuration;

namespace Inspection.Worker.Tests;

public sealed class ConfigurationTests
{
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

    [Fact]
    public void The_defaults_are_valid()
    {
        var (options, problems) = WorkerConfiguration.Read(Configuration([]));
        Assert.Empty(problems);
        Assert.Equal("http://127.0.0.1:9400", options.Http.Url);
        Assert.True(options.Mqtt.UsesEmbeddedBroker);
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
        var example = Path.Combine(SharedData.RepositoryRoot, "deploy", "worker", "appsettings.example.json");
        var (options, problems) = WorkerConfiguration.Read(new ConfigurationBuilder().AddJsonFile(example).Build());
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

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}

using System.Diagnostics;
using Inspection.TestSupport;

namespace Inspection.Deploy.Tests;

/// <summary>tools/gpu-check.sh on a host without (all of) the GPU stack: what is missing, in a few lines, exit 1, nothing built.</summary>
public sealed class GpuCheckTests
{
    private static string Script => Path.Combine(SharedData.RepositoryRoot, "tools", "gpu-check.sh");

    [SkippableFact]
    public async Task Says_exactly_what_is_missing_in_a_few_lines_and_exits_1_before_building()
    {
        Skip.If(GpuHost.HasTensorRt, "this host has the whole GPU stack: gpu-check.sh is the GPU run itself here, not a test");
        using var folder = new TempFolder();
        var report = folder.File("report.md");
        var (exit, stdout, stderr) = await RunAsync(null, "--report", report);

        Assert.True(exit == 1, $"exit {exit}\n{stderr}");
        Assert.Empty(stdout);
        Assert.False(File.Exists(report), "a host that cannot run the GPU paths gets no report");
        var lines = stderr.Trim().Split('\n');
        Assert.InRange(lines.Length, 3, 8);
        Assert.StartsWith("gpu-check: this host cannot run the GPU paths; missing:", lines[0]);
        Assert.Equal(!GpuHost.HasGpu, stderr.Contains("NVIDIA driver", StringComparison.Ordinal));
        foreach (var library in GpuHost.Missing([.. GpuHost.CudaLibraries.Skip(1), .. GpuHost.TensorRtLibraries]))
        {
            Assert.Contains(library, stderr); // judged independently: the loader cannot load it
        }
    }

    [SkippableFact]
    public async Task Libraries_on_LD_LIBRARY_PATH_count_as_found()
    {
        Skip.If(GpuHost.HasTensorRt, "this host has the whole GPU stack");
        Skip.IfNot(GpuHost.Missing(["libcudnn.so.9"]).Count == 1, "this host has cuDNN already");
        using var folder = new TempFolder();
        File.WriteAllBytes(folder.File("libcudnn.so.9"), []);
        var (exit, _, stderr) = await RunAsync(folder.Path);

        Assert.Equal(1, exit);
        Assert.DoesNotContain("libcudnn.so.9", stderr);
        Assert.Contains("found: cuDNN 9", stderr);
    }

    [Fact]
    public async Task An_unknown_option_is_refused_with_the_usage()
    {
        var (exit, _, stderr) = await RunAsync(null, "--benchmarks");
        Assert.Equal(2, exit);
        Assert.Contains("unknown option '--benchmarks'; use --report FILE or --quick", stderr);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string? libraryPath, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = SharedData.RepositoryRoot };
        start.ArgumentList.Add(Script);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["LD_LIBRARY_PATH"] = libraryPath ?? string.Empty;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Inspection.TestSupport;

// Containers here are Linux containers run by podman, on Linux.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Inspection.Containers.Tests;

/// <summary>Tests that build images and run containers go one at a time: two cores, and one image store.</summary>
[CollectionDefinition("Containers", DisableParallelization = true)]
public sealed class Containers;

/// <summary>
/// Real podman with the project's settings for this kind of machine (tools/podman/containers.conf), and the images
/// tools/images.sh builds, or reuses when their inputs did not change.
/// </summary>
internal static class Podman
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> Images = new();

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        /// <summary>
        /// Both streams' non-empty lines, for messages and one-line checks, without podman's own log lines (on a host
        /// without systemd, podman 4.3 logs that it cannot set a timer for the image's HEALTHCHECK).
        /// </summary>
        public List<string> Lines => [.. $"{Stdout}\n{Stderr}".Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !(l.StartsWith("time=\"", StringComparison.Ordinal) && l.Contains(" level=", StringComparison.Ordinal)))];

        public override string ToString() => $"exit {ExitCode}\n{Stdout}\n{Stderr}";
    }

    /// <summary>Options every container of the tests gets: the host's network (servers on its 127.0.0.1) and its limits.</summary>
    public static readonly string[] HostNetwork = ["--network", "host", "--ulimit", "host"];

    /// <summary>The image of <paramref name="flavor"/> (cpu, gpu, trainer), built once per test run; its tag.</summary>
    public static Task<string> ImageAsync(string flavor) => Images.GetOrAdd(flavor, f => new Lazy<Task<string>>(() => BuildAsync(f))).Value;

    public static Task<Result> RunAsync(params string[] args) => RunAsync(TimeSpan.FromMinutes(3), args);

    public static async Task<Result> RunAsync(TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["CONTAINERS_CONF"] = Path.Combine(SharedData.RepositoryRoot, "tools", "podman", "containers.conf");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return await RunToEndAsync(start, timeout);
    }

    /// <summary>A folder a container's user (uid 10001) may write: the /data volume.</summary>
    public static string DataFolder(TempFolder folder, string name = "data")
    {
        var path = Directory.CreateDirectory(folder.File(name)).FullName;
        File.SetUnixFileMode(path, (UnixFileMode)0b111_111_111);
        return path;
    }

    private static async Task<string> BuildAsync(string flavor)
    {
        var script = Path.Combine(SharedData.RepositoryRoot, "tools", "images.sh");
        _ = Executable;
        var start = new ProcessStartInfo("bash", [script, "--flavor", flavor]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = SharedData.RepositoryRoot };
        var built = await RunToEndAsync(start, TimeSpan.FromMinutes(40));
        Assert.True(built.ExitCode == 0, $"tools/images.sh --flavor {flavor} failed:\n{string.Join('\n', built.Lines.TakeLast(40))}");
        return flavor == "trainer" ? "localhost/inspection-trainer:cpu" : $"localhost/inspection-worker:{flavor}";
    }

    /// <summary>podman; its absence fails the test in CI (tools/install-deps.sh test installs it) and skips it elsewhere.</summary>
    private static string Executable
    {
        get
        {
            var found = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(d => Path.Combine(d, "podman")).FirstOrDefault(File.Exists);
            if (found is not null && !RootIsMountPoint)
            {
                // The minimal-Debian proof runs the README's commands in a chroot, where no container can run.
                throw new SkipException("podman cannot run containers in a chroot (its / is not a mount point, which podman's storage needs): run the container tests on a host, a VM or in a container.");
            }

            if (found is not null)
            {
                return found;
            }

            const string message = "podman is not installed: tools/install-deps.sh test installs podman, runc and debootstrap.";
            return SharedData.InCi ? throw new InvalidOperationException(message) : throw new SkipException(message);
        }
    }

    /// <summary>Whether this process's / is a mount point: it is on a host, a VM or in a container, not in a chroot of a folder.</summary>
    private static bool RootIsMountPoint => File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ') is { Length: > 4 } fields && fields[4] == "/");

    private static async Task<Result> RunToEndAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}.");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>A container run in the background (podman run -d) under a name of its own, removed when disposed.</summary>
internal sealed class Container : IDisposable
{
    private Container(string name) => Name = name;

    public string Name { get; }

    public static async Task<Container> StartAsync(string image, IEnumerable<string> options, params string[] command)
    {
        var container = new Container($"inspection-test-{Guid.NewGuid():N}"[..28]);
        var started = await Podman.RunAsync([.. new[] { "run", "-d", "--name", container.Name }, .. Podman.HostNetwork, .. options, image, .. command]);
        Assert.True(started.ExitCode == 0, $"podman run {image}: {started}");
        return container;
    }

    public async Task<string> LogsAsync()
    {
        var logs = await Podman.RunAsync("logs", Name);
        return logs.Stdout + logs.Stderr;
    }

    /// <summary>Waits until the container's log has <paramref name="text"/>; fails with the log if it stops first or the time runs out.</summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var logs = await LogsAsync();
            if (logs.Split('\n').FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            Assert.True(watch.Elapsed < timeout && await RunningAsync(), $"the container never logged '{text}':\n{logs}");
            await Task.Delay(250);
        }
    }

    public async Task<bool> RunningAsync() => (await Podman.RunAsync("inspect", "--format", "{{.State.Running}}", Name)).Stdout.Trim() == "true";

    /// <summary>podman stop: SIGTERM (the image's STOPSIGNAL), SIGKILL after <paramref name="grace"/>; the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan grace)
    {
        var stopped = await Podman.RunAsync("stop", "--time", ((int)grace.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture), Name);
        Assert.True(stopped.ExitCode == 0, $"podman stop: {stopped}");
        return await ExitCodeAsync();
    }

    public async Task<int> ExitCodeAsync() => int.Parse((await Podman.RunAsync("inspect", "--format", "{{.State.ExitCode}}", Name)).Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose() => Podman.RunAsync("rm", "--force", "--time", "0", Name).GetAwaiter().GetResult();
}

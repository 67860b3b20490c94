using System.Diagnostics;
using System.Globalization;

namespace Inspection.TestSupport;

/// <summary>
/// The built worker (inspection-worker) run as an operator runs it: its own process, configured through
/// environment variables (Inspection__Cameras__0__Uri ...), in a folder of its own, stopped with SIGTERM.
/// </summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private int _disposed;

    private WorkerProcess(Process process, int httpPort, int webPort)
    {
        _process = process;
        HttpPort = httpPort;
        WebPort = webPort;
    }

    public int HttpPort { get; }

    /// <summary>The web view's own listener (Inspection:Web:Url), apart from /metrics and /health on <see cref="HttpPort"/>.</summary>
    public int WebPort { get; }

    public string WebUrl => $"http://127.0.0.1:{WebPort}";

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything it printed so far (stdout and stderr).</summary>
    public List<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public static string WorkerPath
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var worker = Path.Combine(SharedData.RepositoryRoot, "src", "Inspection.Worker", "bin", configuration, "net10.0", "linux-x64", "inspection-worker.dll");
            return File.Exists(worker) ? worker : throw new FileNotFoundException($"The worker is not built in {configuration}: build the solution first.", worker);
        }
    }

    /// <summary>
    /// Starts the worker in <paramref name="folder"/> with <paramref name="settings"/> given as configuration paths
    /// ("Inspection:Cameras:0:Uri"), an HTTP port of its own and a web view port of its own.
    /// </summary>
    public static WorkerProcess Start(string folder, IReadOnlyDictionary<string, string> settings, params string[] args)
    {
        var httpPort = ServerProcess.FreePort();
        var webPort = ServerProcess.FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = folder };
        start.ArgumentList.Add(WorkerPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["Inspection__Http__Url"] = $"http://127.0.0.1:{httpPort}";
        start.Environment["Inspection__Web__Url"] = $"http://127.0.0.1:{webPort}";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = new Process { StartInfo = start };
        var worker = new WorkerProcess(process, httpPort, webPort);
        process.OutputDataReceived += (_, e) => worker.Add(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>Waits until a printed line contains <paramref name="text"/>; fails with what it printed if it exits or the time runs out.</summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (Lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            if (_process.HasExited)
            {
                break;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The worker did not print '{text}' ({(_process.HasExited ? "it exited" : "still running")}):\n{string.Join("\n", Lines.TakeLast(40))}");
    }

    public async Task<string> GetAsync(string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return await http.GetStringAsync($"http://127.0.0.1:{HttpPort}{path}");
    }

    /// <summary>SIGTERM, as systemd or Kubernetes stop it; returns the exit code.</summary>
    public int Terminate(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            kill.WaitForExit();
        }

        if (!_process.WaitForExit((int)timeout.TotalMilliseconds))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The worker did not stop within {timeout} of SIGTERM:\n{string.Join("\n", Lines.TakeLast(40))}");
        }

        DrainOutput();
        return _process.ExitCode;
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit((int)timeout.TotalMilliseconds))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The worker did not exit within {timeout}:\n{string.Join("\n", Lines.TakeLast(40))}");
        }

        DrainOutput();
        return _process.ExitCode;
    }

    /// <summary>SIGKILL, as a crash or a pulled plug: nothing of the worker runs any more, its connections just drop.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Kill();
            _process.Dispose();
        }
    }

    /// <summary>
    /// Waits for the output events to reach the end of the pipes, but not forever: a child the worker started (ffmpeg,
    /// a model check) that inherited the pipes and outlived it would hold them open, and the parameterless
    /// WaitForExit with it.
    /// </summary>
    private void DrainOutput()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            _process.WaitForExitAsync(limit.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            Add("(test: the worker's output pipes were still open 10 s after it exited; its last lines may be missing)");
        }
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            lock (_lines)
            {
                _lines.Add(line);
            }
        }
    }
}

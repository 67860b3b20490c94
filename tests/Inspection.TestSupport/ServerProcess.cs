using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Inspection.TestSupport;

/// <summary>
/// A real server run by a test (an RTSP server, an MJPEG server, a broker) on 127.0.0.1 and a free port. It can be
/// killed and started again on the same port, and is killed when disposed.
/// </summary>
public sealed class ServerProcess : IDisposable
{
    private readonly string _fileName;
    private readonly Func<int, IEnumerable<string>> _arguments;
    private readonly string? _readyLine;
    private Process? _process;

    private ServerProcess(string fileName, Func<int, IEnumerable<string>> arguments, string? readyLine, int? port = null)
    {
        _fileName = fileName;
        _arguments = arguments;
        _readyLine = readyLine;
        Port = port ?? FreePort();
    }

    public int Port { get; }

    public bool Running => _process is { HasExited: false };

    /// <summary>Output lines the server printed, for failure messages.</summary>
    public List<string> Output { get; } = [];

    /// <summary>GStreamer's RTSP server serving rtsp://127.0.0.1:PORT/stream (a moving test pattern).</summary>
    /// <param name="port">A port chosen before (a camera was told it already), e.g. to bring a camera back at another resolution.</param>
    public static ServerProcess Rtsp(int width = 640, int height = 360, int fps = 25, string? user = null, string? password = null, int? port = null)
    {
        var script = Path.Combine(SharedData.RepositoryRoot, "tests", "fixtures", "rtsp_server.py");
        var server = new ServerProcess("/usr/bin/python3", port =>
        {
            var args = new List<string> { script, port.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{width}", $"{height}", $"{fps}" };
            if (user is not null)
            {
                args.AddRange(["--user", user, "--password", password ?? string.Empty]);
            }

            return args;
        }, "ready", port);
        server.Start();
        return server;
    }

    /// <summary>ffmpeg serving a video as multipart MJPEG at http://127.0.0.1:PORT/stream.mjpg, at its own pace, to one client.</summary>
    public static ServerProcess Mjpeg(string video)
    {
        var server = new ServerProcess("ffmpeg", port =>
        [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", video,
            "-an", "-q:v", "5", "-f", "mpjpeg", "-content_type", "multipart/x-mixed-replace;boundary=ffmpeg", "-listen", "1", $"http://127.0.0.1:{port}/stream.mjpg",
        ], null);
        server.Start();
        return server;
    }

    public string RtspUrl => $"rtsp://127.0.0.1:{Port}/stream";

    /// <summary>
    /// A mosquitto broker on 127.0.0.1 with persistence (offline subscribers' sessions survive a restart), no limit
    /// on queued messages, and optional extra configuration lines (a password file, TLS).
    /// </summary>
    public static ServerProcess Mosquitto(string folder, params string[] extraConfiguration) => MosquittoOnPort(folder, null, extraConfiguration);

    /// <summary>mosquitto on a port chosen before (a client was told it already).</summary>
    public static ServerProcess MosquittoOnPort(string folder, int? fixedPort, params string[] extraConfiguration)
    {
        var server = new ServerProcess("mosquitto", port =>
        {
            var configuration = Path.Combine(folder, "mosquitto.conf");
            var data = Directory.CreateDirectory(Path.Combine(folder, "mosquitto-data")).FullName;
            File.WriteAllLines(configuration,
            [
                $"listener {port} 127.0.0.1",
                .. extraConfiguration.Length == 0 ? ["allow_anonymous true"] : extraConfiguration,
                $"user {Environment.UserName}", // as root, mosquitto would switch to its own user, who cannot write the test's folder
                "persistence true",
                $"persistence_location {data}/",
                "max_queued_messages 0",
                "max_inflight_messages 0",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
            ]);
            return ["-c", configuration];
        }, null, fixedPort);
        server.Start();
        return server;
    }

    /// <summary>A Prometheus server scraping <paramref name="target"/> (host:port) every second, with its API on 127.0.0.1:PORT.</summary>
    public static ServerProcess Prometheus(string folder, string target)
    {
        var configuration = Path.Combine(folder, "prometheus.yml");
        File.WriteAllText(configuration, $"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: inspection\n    static_configs:\n      - targets: ['{target}']\n");
        return PrometheusWithConfiguration(folder, configuration);
    }

    /// <summary>A Prometheus server run with <paramref name="configuration"/> (its rule files beside it), with its API on 127.0.0.1:PORT.</summary>
    public static ServerProcess PrometheusWithConfiguration(string folder, string configuration)
    {
        var server = new ServerProcess("prometheus", port =>
        [
            $"--config.file={configuration}", $"--storage.tsdb.path={Path.Combine(folder, "prometheus-data")}",
            $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        ], null);
        server.Start();
        return server;
    }

    /// <summary>Stops the server politely (SIGTERM), as an operator restarting it would; it saves its state.</summary>
    public void Stop()
    {
        if (_process is { } process)
        {
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                kill.WaitForExit();
            }

            if (!process.WaitForExit(10_000))
            {
                process.Kill();
            }

            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Starts the server and waits until it is ready (its ready line, or its port accepting).</summary>
    public void Start()
    {
        var start = new ProcessStartInfo(_fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in _arguments(Port))
        {
            start.ArgumentList.Add(arg);
        }

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Record(e.Data, ready);
        process.ErrorDataReceived += (_, e) => Record(e.Data, ready);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{_fileName} exited with {process.ExitCode}: {string.Join('\n', Output)}");
            }

            if (_readyLine is null ? Listening(Port) : ready.Task.IsCompleted)
            {
                return;
            }

            Thread.Sleep(50);
        }

        throw new TimeoutException($"{_fileName} on port {Port} was not ready within 20 s: {string.Join('\n', Output)}");
    }

    /// <summary>Freezes the server (SIGSTOP): it keeps its connections open and answers nothing, as a hung server does.</summary>
    public void Pause() => Signal("-STOP");

    /// <summary>Lets a paused server go on (SIGCONT).</summary>
    public void Resume() => Signal("-CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [signal, _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Kills the server at once, as a crash or a pulled cable would.</summary>
    public void Kill()
    {
        if (_process is { } process)
        {
            try
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
            _process = null;
        }
    }

    public void Dispose() => Kill();

    /// <summary>A TCP port on 127.0.0.1 that nothing listens on right now.</summary>
    public static int FreePort()
    {
        // The kernel may hand the same port to the next caller once the probe closes: a port is given out once per
        // process, so a worker's listeners never get the same one (a worker once refused its configuration).
        lock (GivenPorts)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                if (GivenPorts.Add(port))
                {
                    return port;
                }
            }
        }
    }

    private static readonly HashSet<int> GivenPorts = [];

    /// <summary>Process ids of running processes whose command line contains <paramref name="text"/>.</summary>
    public static List<int> ProcessesWith(string text)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var command = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var state = File.ReadAllText(Path.Combine(dir, "stat"));
                var zombie = state.Length > state.LastIndexOf(')') + 2 && state[state.LastIndexOf(')') + 2] == 'Z';
                if (command.Contains(text, StringComparison.Ordinal) || (zombie && command.Length == 0 && state.Contains(text, StringComparison.Ordinal)))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return found;
    }

    private void Record(string? line, TaskCompletionSource ready)
    {
        if (line is null)
        {
            return;
        }

        lock (Output)
        {
            Output.Add(line);
        }

        if (_readyLine is not null && line.Contains(_readyLine, StringComparison.Ordinal))
        {
            ready.TrySetResult();
        }
    }

    /// <summary>Whether something listens on the TCP port, read from /proc/net/tcp without connecting (a one-client server would take the connection as its client).</summary>
    public static bool Listening(int port)
    {
        var hexPort = ":" + port.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
        return File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Any(fields => fields.Length > 3 && fields[1].EndsWith(hexPort, StringComparison.Ordinal) && fields[3] == "0A");
    }
}

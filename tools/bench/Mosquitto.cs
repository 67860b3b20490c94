using System.Diagnostics;
using System.Globalization;
using Inspection.Core;

namespace Inspection.Bench;

/// <summary>A mosquitto for the benchmarks, on a free loopback port; <see cref="Start"/> starts one and waits for it to listen.</summary>
internal sealed class Mosquitto(Process process, int port) : IDisposable
{
    public int Port => port;

    /// <summary>
    /// Starts mosquitto with its configuration in <paramref name="folder"/>. It logs only errors and warnings, to this
    /// process's stderr: a redirected stderr that nobody reads would fill with connection notices over a long run
    /// and stall the broker.
    /// </summary>
    public static Mosquitto Start(string folder)
    {
        var port = Measure.FreePort();
        var configuration = Path.Combine(folder, "mosquitto.conf");
        File.WriteAllLines(configuration, [$"listener {port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 0", "max_inflight_messages 0", "log_type error", "log_type warning"]);
        var process = Process.Start(new ProcessStartInfo("mosquitto", ["-c", configuration]))
            ?? throw new InspectionInputException("mosquitto did not start; install it (tools/install-deps.sh).");
        var listening = ":" + port.ToString("X4", CultureInfo.InvariantCulture) + " 00000000:0000 0A";
        for (var i = 0; !File.ReadLines("/proc/net/tcp").Any(l => l.Contains(listening, StringComparison.Ordinal)); i++)
        {
            if (i == 100 || process.HasExited)
            {
                process.Kill();
                process.Dispose();
                throw new InspectionInputException($"mosquitto did not listen on 127.0.0.1:{port} within 5 s; is it installed (tools/install-deps.sh)?");
            }

            Thread.Sleep(50);
        }

        return new Mosquitto(process, port);
    }

    public void Dispose()
    {
        process.Kill();
        process.WaitForExit();
        process.Dispose();
    }
}

using System.Net;
using System.Net.Sockets;

namespace Inspection.Messaging.Tests;

/// <summary>
/// A loopback TCP relay between a client and a broker that can cut every connection at once with a reset,
/// as a crashed process or a pulled cable would, and then refuse new ones.
/// </summary>
internal sealed class TcpProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _sockets = [];
    private readonly int _target;
    private bool _cut;

    public TcpProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Resets every relayed connection and accepts no more.</summary>
    public void Cut()
    {
        lock (_sockets)
        {
            if (_cut)
            {
                return;
            }

            _cut = true;
            _listener.Stop();
            foreach (var socket in _sockets)
            {
                socket.LingerState = new LingerOption(true, 0); // close with RST: no goodbye reaches either side
                socket.Close();
            }
        }
    }

    public void Dispose() => Cut();

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await server.ConnectAsync(IPAddress.Loopback, _target);
            lock (_sockets)
            {
                if (_cut)
                {
                    client.Close();
                    server.Close();
                    return;
                }

                _sockets.Add(client);
                _sockets.Add(server);
            }

            _ = Task.Run(() => PipeAsync(client, server));
            _ = Task.Run(() => PipeAsync(server, client));
        }
    }

    private static async Task PipeAsync(Socket from, Socket to)
    {
        var buffer = new byte[16384];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The proxy was cut.
        }
    }
}

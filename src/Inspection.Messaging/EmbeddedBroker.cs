using System.Net;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace Inspection.Messaging;

/// <summary>
/// An in-process MQTT broker on 127.0.0.1, so the demo runs with nothing installed. Configuring an external
/// broker (MqttOptions.Host) replaces it. Loopback only: it has no authentication.
/// </summary>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    private readonly MqttServer _server;

    private EmbeddedBroker(MqttServer server, int port)
    {
        _server = server;
        Port = port;
    }

    public int Port { get; }

    /// <summary>MQTTnet keeps the CONNECT packet private; EmbeddedBrokerTests notice if a new version renames it.</summary>
    internal static readonly System.Reflection.FieldInfo? ConnectPacket =
        typeof(ValidatingConnectionEventArgs).GetField("_connectPacket", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);

    public static async Task<EmbeddedBroker> StartAsync(int port, ILogger logger)
    {
        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithDefaultEndpointPort(port)
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        server.ValidatingConnectionAsync += e =>
        {
            // MQTT lets a clean-session client leave its id to the broker (plain mosquitto_sub does): give it one.
            if (string.IsNullOrEmpty(e.ClientId) && e.CleanSession != false)
            {
                var id = "auto-" + Guid.NewGuid().ToString("N")[..12];
                e.AssignedClientIdentifier = id; // MQTT 5
                if (ConnectPacket?.GetValue(e) is MQTTnet.Packets.MqttConnectPacket packet)
                {
                    packet.ClientId = id; // MQTT 3.1.1: MQTTnet reads the id from the packet only
                }
            }

            return Task.CompletedTask;
        };
        try
        {
            await server.StartAsync().ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            server.Dispose();
            throw new Core.InspectionInputException(
                $"The embedded MQTT broker cannot listen on 127.0.0.1:{port} ({e.Message}): another broker may run there. Configure it as the broker (Inspection:Mqtt:Host) or choose another EmbeddedBrokerPort.", e);
        }

        logger.LogInformation("Embedded MQTT broker listening on 127.0.0.1:{Port}.", port);
        return new EmbeddedBroker(server, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync().ConfigureAwait(false);
        _server.Dispose();
    }
}

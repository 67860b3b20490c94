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

    public static async Task<EmbeddedBroker> StartAsync(int port, ILogger logger)
    {
        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithDefaultEndpointPort(port)
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
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

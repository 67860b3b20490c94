using System.Collections.Concurrent;
using System.Net;
using Inspection.Access;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace Inspection.Messaging;

/// <summary>
/// The users a broker admits and what each may publish and read; <see cref="Denied"/> hears every refusal.
/// </summary>
public sealed record BrokerAccess(IReadOnlyList<AccessUser> Users, TopicRules Rules, Action<string, string, string>? Denied = null);

/// <summary>
/// An in-process MQTT broker, so the demo runs with nothing installed; configuring an external broker
/// (MqttOptions.Host) replaces it. Without <see cref="BrokerAccess"/> it admits anyone and may only listen on
/// loopback; with it, it admits only the users of the users file, each publishing and reading by its role's
/// <see cref="TopicRules"/>, and stamps every message it passes on with its sender's user name
/// (<see cref="SenderProperty"/>), so the worker knows who sent a command.
/// </summary>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    /// <summary>The MQTT 5 user property naming the user who published a message; a client's own one is replaced.</summary>
    public const string SenderProperty = "inspection-user";

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

    /// <param name="address">Where to listen; anything but loopback needs <paramref name="access"/>.</param>
    public static async Task<EmbeddedBroker> StartAsync(int port, ILogger logger, IPAddress? address = null, BrokerAccess? access = null)
    {
        address ??= IPAddress.Loopback;
        if (access is null && !IPAddress.IsLoopback(address))
        {
            throw new Core.InspectionInputException($"the embedded MQTT broker admits anyone without a users file, so it listens on loopback only; give Inspection:Access:UsersFile to listen on {address}");
        }

        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(address)
            .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithDefaultEndpointPort(port)
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        if (access is not null)
        {
            Enforce(server, access, logger);
        }

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
                $"The embedded MQTT broker cannot listen on {address}:{port} ({e.Message}): another broker may run there. Configure it as the broker (Inspection:Mqtt:Host) or choose another EmbeddedBrokerPort.", e);
        }

        logger.LogInformation("Embedded MQTT broker listening on {Address}:{Port}, {Access}.", address, port, access is null ? "anonymous (loopback only)" : $"{access.Users.Count} users by role");
        return new EmbeddedBroker(server, port);
    }

    /// <summary>Passwords at connect, the role's topic rules on every publish and every delivery, the sender stamped on each message.</summary>
    private static void Enforce(MqttServer server, BrokerAccess access, ILogger logger)
    {
        var users = access.Users.ToDictionary(u => u.Name, StringComparer.Ordinal);
        var sessions = new ConcurrentDictionary<string, AccessUser>(StringComparer.Ordinal);
        server.ValidatingConnectionAsync += e =>
        {
            if (e.UserName is not { } name || !users.TryGetValue(name, out var user) || user.PasswordHash is not { } hash || e.Password is not { } password || !PasswordHash.Verify(password, hash))
            {
                e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
                logger.LogWarning("Embedded MQTT broker: refused a connection as '{User}' (client {Client}): unknown user or wrong password.", e.UserName ?? "(none)", e.ClientId);
                access.Denied?.Invoke(e.UserName ?? "(none)", string.Empty, "connect");
                return Task.CompletedTask;
            }

            sessions[e.ClientId] = user;
            return Task.CompletedTask;
        };
        server.ClientDisconnectedAsync += e =>
        {
            sessions.TryRemove(e.ClientId, out _);
            return Task.CompletedTask;
        };
        server.InterceptingPublishAsync += e =>
        {
            if (e.ClientId is null || !sessions.TryGetValue(e.ClientId, out var user))
            {
                return Task.CompletedTask; // the broker's own messages (retained, Wills)
            }

            var message = e.ApplicationMessage;
            if (!access.Rules.CanWrite(user, message.Topic))
            {
                e.ProcessPublish = false;
                e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
                logger.LogWarning("Embedded MQTT broker: {User} ({Role}) may not publish on {Topic}; refused.", user.Name, user.Role, message.Topic);
                access.Denied?.Invoke(user.Name, message.Topic, "publish");
                return Task.CompletedTask;
            }

            message.UserProperties = [.. (message.UserProperties ?? []).Where(p => p.Name != SenderProperty), new MqttUserProperty(SenderProperty, System.Text.Encoding.UTF8.GetBytes(user.Name).AsMemory())];
            return Task.CompletedTask;
        };
        server.InterceptingClientEnqueueAsync += e =>
        {
            if (sessions.TryGetValue(e.ReceiverClientId, out var receiver) && !access.Rules.CanRead(receiver, e.ApplicationMessage.Topic))
            {
                e.AcceptEnqueue = false;
            }

            return Task.CompletedTask;
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync().ConfigureAwait(false);
        _server.Dispose();
    }
}

using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using Microsoft.Extensions.Logging;
using MQTTnet.Formatter;

namespace Inspection.Messaging;

/// <summary>What every MQTT session of the service shares: broker, protocol, credentials, TLS, and a clean goodbye.</summary>
internal static class SessionOptions
{
    /// <summary>
    /// Publishes a last message and disconnects. A clean disconnect does not release the Will, so the farewell
    /// says what the Will would have said. Quiet when the broker is already gone.
    /// </summary>
    public static async Task CloseAsync(IMqttClient client, MqttApplicationMessage farewell, ILogger logger)
    {
        if (!client.IsConnected)
        {
            return;
        }

        try
        {
            await client.PublishAsync(farewell, CancellationToken.None).ConfigureAwait(false);
            await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
        {
            logger.LogDebug(e, "The broker went away during shutdown.");
        }
    }

    /// <summary>
    /// Connects, serves the session until it ends, and connects again with back-off, until <paramref name="stop"/>:
    /// the life of every MQTT session of the service. <paramref name="failed"/> hears why a session ended or never
    /// began; <paramref name="ended"/> runs after each session.
    /// </summary>
    public static async Task KeepConnectedAsync(MqttOptions options, Func<CancellationToken, Task> connect, Func<CancellationToken, Task> serve, Action<Exception> failed, Func<Task> ended, CancellationToken stop)
    {
        var attempt = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await connect(stop).ConfigureAwait(false);
                attempt = 0;
                await serve(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                failed(e);
            }

            await ended().ConfigureAwait(false);
            try
            {
                await Task.Delay(Inspection.Core.Backoff.Delay(attempt++, options.ReconnectInitialDelay, options.ReconnectMaxDelay), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Where the service's own sessions reach the embedded broker: its address, or loopback when it listens on all.</summary>
    public static string EmbeddedBrokerHost(MqttOptions options) =>
        options.EmbeddedBrokerAddress is "0.0.0.0" or "::" ? "127.0.0.1" : options.EmbeddedBrokerAddress;

    /// <param name="host">Another broker than <paramref name="options"/>' one, with the same credentials and TLS.</param>
    public static MqttClientOptionsBuilder Build(MqttOptions options, string clientId, string? host = null, int? port = null)
    {
        var (server, serverPort) = host is { Length: > 0 } ? (host, port ?? options.Port)
            : options.UsesEmbeddedBroker ? (EmbeddedBrokerHost(options), port ?? options.EmbeddedBrokerPort) : (options.Host!, port ?? options.Port);
        var builder = new MqttClientOptionsBuilder()
            .WithClientId(clientId)
            .WithTcpServer(server, serverPort)
            .WithProtocolVersion(options.Protocol == MqttProtocol.V500 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311)
            .WithKeepAlivePeriod(options.KeepAlive)
            .WithTimeout(options.ConnectTimeout);
        if (options.Username is { Length: > 0 } user)
        {
            builder.WithCredentials(user, options.ResolvePassword());
        }

        if (options.UseTls)
        {
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls().WithTargetHost(server);
                if (options.CaFile is { Length: > 0 } caFile)
                {
                    tls.WithTrustChain([X509CertificateLoader.LoadCertificateFromFile(caFile)]);
                }

                if (options.ClientCertificateFile is { Length: > 0 } certificate)
                {
                    tls.WithClientCertificates([X509Certificate2.CreateFromPemFile(certificate, options.ClientKeyFile)]);
                }

                if (options.AllowUntrustedCertificates)
                {
                    tls.WithAllowUntrustedCertificates().WithIgnoreCertificateChainErrors().WithCertificateValidationHandler(_ => true);
                }
            });
        }

        return builder;
    }
}

using System.Diagnostics;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Inspection.TestSupport;

public sealed record Received(string Topic, string Payload, bool Retain, IReadOnlyDictionary<string, string> Properties, uint ExpirySeconds = 0, byte[]? CorrelationData = null);

/// <summary>An MQTTnet subscriber with a persistent session that reconnects by itself, as a SCADA client would.</summary>
public sealed class MqttSubscriber : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly MqttClientOptions _options;
    private readonly string _filter;
    private readonly CancellationTokenSource _stop = new();

    private MqttSubscriber(int port, string filter, string clientId, string? user, string? password)
    {
        _filter = filter;
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(clientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithCleanStart(false).WithSessionExpiryInterval(3600);
        _options = (user is null ? options : options.WithCredentials(user, password)).Build();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            var properties = (m.UserProperties ?? []).ToDictionary(p => p.Name, p => Encoding.UTF8.GetString(p.ValueBuffer.Span));
            lock (Messages)
            {
                Messages.Add(new Received(m.Topic, Encoding.UTF8.GetString(m.Payload), m.Retain, properties, m.MessageExpiryInterval, m.CorrelationData));
            }

            return Task.CompletedTask;
        };
        _client.DisconnectedAsync += async _ =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(200, _stop.Token);
                    await ConnectAsync();
                    return;
                }
                catch (Exception) when (!_stop.IsCancellationRequested)
                {
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        };
    }

    public List<Received> Messages { get; } = [];

    /// <param name="user">A user of the broker's password file (with <paramref name="password"/>); anonymous when null.</param>
    public static async Task<MqttSubscriber> StartAsync(int port, string filter, string clientId = "test-subscriber", string? user = null, string? password = null)
    {
        var subscriber = new MqttSubscriber(port, filter, clientId, user, password);
        await subscriber.ConnectAsync();
        return subscriber;
    }

    public List<Received> Snapshot()
    {
        lock (Messages)
        {
            return [.. Messages];
        }
    }

    /// <summary>Publishes with QoS 1, as a PLC would, optionally with MQTT 5 correlation data and a response topic.</summary>
    public Task<MqttClientPublishResult> PublishAsync(string topic, string payload, byte[]? correlationData = null, string? responseTopic = null)
    {
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (correlationData is not null)
        {
            message.WithCorrelationData(correlationData);
        }

        if (responseTopic is not null)
        {
            message.WithResponseTopic(responseTopic);
        }

        return _client.PublishAsync(message.Build());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }

    private async Task ConnectAsync()
    {
        await _client.ConnectAsync(_options);
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(_filter, MqttQualityOfServiceLevel.AtLeastOnce).Build());
    }
}

/// <summary>mosquitto_sub with a persistent session (-c), printing "topic payload" per message.</summary>
public sealed class MosquittoSub : IDisposable
{
    private readonly Process _process;

    public MosquittoSub(int port, string filter, string clientId = "mosquitto-sub", params string[] extra)
    {
        var start = new ProcessStartInfo("mosquitto_sub") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-t", filter, "-q", "1", "-c", "-i", clientId, "-v" }.Concat(extra))
        {
            start.ArgumentList.Add(arg);
        }

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lock (Lines)
                {
                    Lines.Add(line);
                }
            }
        };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public List<string> Lines { get; } = [];

    /// <summary>The lines printed so far, copied under the lock.</summary>
    public List<string> Snapshot()
    {
        lock (Lines)
        {
            return [.. Lines];
        }
    }

    public int Count
    {
        get
        {
            lock (Lines)
            {
                return Lines.Count;
            }
        }
    }

    public void Dispose()
    {
        try
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}

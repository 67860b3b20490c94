using System.Text;
using System.Text.Json.Nodes;

namespace Inspection.Web.Tests;

/// <summary>Reads server-sent events off a real response, as EventSource would.</summary>
public sealed class SseReader(Stream body) : IDisposable
{
    private readonly StreamReader _reader = new(body, Encoding.UTF8);

    public sealed record Event(string Name, string? Id, JsonNode? Data);

    /// <summary>The next event, skipping names in <paramref name="skip"/>; fails when none comes within <paramref name="timeout"/>.</summary>
    public async Task<Event> NextAsync(TimeSpan timeout, params string[] skip)
    {
        using var limit = new CancellationTokenSource(timeout);
        while (true)
        {
            string? name = null, id = null;
            var data = new StringBuilder();
            string? line;
            while ((line = await _reader.ReadLineAsync(limit.Token)) is not null && line.Length > 0)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
                else if (line.StartsWith("id: ", StringComparison.Ordinal)) id = line[4..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line[6..]);
            }

            Assert.NotNull(line); // the stream must not end
            if (name is not null && !skip.Contains(name))
            {
                return new Event(name, id, JsonNode.Parse(data.ToString()));
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}

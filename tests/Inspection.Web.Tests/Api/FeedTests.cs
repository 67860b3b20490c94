using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inspection.Core;

namespace Inspection.Web.Tests;

/// <summary>The verdict feed over real HTTP: event order, server-side filters, the gap event, Last-Event-ID, counts.</summary>
public sealed class FeedTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ResultsArriveInOrderFilteredByCameraVerdictAndClass()
    {
        await using var web = await WebApp.StartAsync();
        using var sam = await web.SignedInAsync("sam");
        using var all = await OpenAsync(sam, "/api/events");
        using var ngOnCam1 = await OpenAsync(sam, "/api/events?camera=cam1&verdict=NG&class=crack");
        await all.NextAsync(Wait); // the first stats: subscribed
        await ngOnCam1.NextAsync(Wait);

        for (var i = 1; i <= 30; i++)
        {
            await web.Publish(SinkItem.ForResult(WebApp.Result(i % 2 == 0 ? "cam1" : "cam2", i, i % 3 == 0 ? Verdict.Ng : Verdict.Ok, i % 5 == 0 ? "scratch" : "crack")));
        }

        var sequences = new List<long>();
        for (var i = 0; i < 30; i++)
        {
            var result = await all.NextAsync(Wait, "stats");
            Assert.Equal("result", result.Name);
            Assert.Equal((i + 1).ToString(), result.Id);
            sequences.Add((long)result.Data!["sequence"]!);
        }

        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), sequences);
        var expected = Enumerable.Range(1, 30).Where(i => i % 2 == 0 && i % 3 == 0 && i % 5 != 0).Select(i => (long)i).ToList();
        foreach (var sequence in expected)
        {
            var result = await ngOnCam1.NextAsync(Wait, "stats");
            Assert.Equal(sequence, (long)result.Data!["sequence"]!);
            Assert.Equal("NG", (string?)result.Data["verdict"]);
        }
    }

    [Fact]
    public async Task AResultKeptAsEvidenceCarriesItsIdAndAPictureUrlThatServesIt()
    {
        const string Kept = "20261128T170211483_cam1_2_P-2";
        await using var web = await WebApp.StartAsync();
        var picture = EvidenceTests.Keep(web, Kept);
        using var sam = await web.SignedInAsync("sam");
        using var events = await OpenAsync(sam, "/api/events");
        await events.NextAsync(Wait);

        await web.Publish(SinkItem.ForResult(WebApp.Result("cam1", 1, Verdict.Ok)));
        await web.Publish(SinkItem.ForResult(WebApp.Result("cam1", 2, Verdict.Ng, partId: "P-2") with { Evidence = new EvidenceRef(Kept, "ng") }));

        Assert.Null((await events.NextAsync(Wait, "stats")).Data!["evidence"]);
        var evidence = (await events.NextAsync(Wait, "stats")).Data!["evidence"]!;
        Assert.Equal(Kept, (string?)evidence["id"]);
        Assert.Equal("ng", (string?)evidence["kind"]);
        Assert.Equal($"{web.Url}/api/evidence/{Kept}.jpg", (string?)evidence["url"]); // as the result on MQTT names it
        Assert.Equal(picture, await sam.GetByteArrayAsync((string)evidence["url"]!));

        var page = (await sam.GetFromJsonAsync<JsonObject>("/api/results"))!["items"]!.AsArray();
        Assert.True(JsonNode.DeepEquals(evidence, page[0]!["evidence"]), page[0]!.ToJsonString());
        Assert.Null(page[1]!["evidence"]);
    }

    [Fact]
    public async Task AReaderThatFallsBehindGetsAGapAndAReconnectGetsWhatItMissed()
    {
        await using var web = await WebApp.StartAsync();
        using var sam = await web.SignedInAsync("sam");
        using var response = await sam.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);
        using var events = new SseReader(await response.Content.ReadAsStreamAsync());
        await events.NextAsync(Wait);

        // more than the reader's queue and the sockets' buffers hold (~30 MB), written while it does not read
        var published = SseHub.QueueCapacity * 8;
        var many = Enumerable.Range(0, 200).Select(i => new Detection(0, 0.5f, new BoundingBox(i, i, i + 10.5f, i + 20.5f))).ToArray();
        for (var i = 1; i <= published; i++)
        {
            await web.Publish(SinkItem.ForResult(WebApp.Result("cam1", i, Verdict.Ok) with { Detections = many }));
        }

        JsonNode? gap = null;
        while (gap is null)
        {
            var e = await events.NextAsync(Wait, "stats");
            gap = e.Name == "gap" ? e.Data : null;
        }

        Assert.True((long)gap!["missed"]! > 0, "a gap names how many events were lost");

        // a reconnect naming the last id it saw gets the newer results the ring kept, in order
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/events");
        request.Headers.Add("Last-Event-ID", (published - 5).ToString());
        using var again = await sam.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var replay = new SseReader(await again.Content.ReadAsStreamAsync());
        for (var id = published - 4; id <= published; id++)
        {
            Assert.Equal(id.ToString(), (await replay.NextAsync(Wait, "stats")).Id);
        }
    }

    [Fact]
    public async Task ResultsCamerasAndTheShiftAreCountedAndPaged()
    {
        await using var web = await WebApp.StartAsync();
        using var sam = await web.SignedInAsync("sam");
        await web.Publish(SinkItem.ForStatus(new SourceStatus("cam1", SourceState.Streaming, null, DateTimeOffset.UtcNow)));
        for (var i = 1; i <= 10; i++)
        {
            await web.Publish(SinkItem.ForResult(WebApp.Result("cam1", i, i <= 2 ? Verdict.Ng : i == 3 ? Verdict.Unknown : Verdict.Ok, partId: $"P-{i}")));
        }

        var page = (await sam.GetFromJsonAsync<JsonObject>("/api/results?limit=4"))!;
        Assert.Equal([10L, 9, 8, 7], page["items"]!.AsArray().Select(i => (long)i!["sequence"]!));
        var next = (await sam.GetFromJsonAsync<JsonObject>($"/api/results?limit=4&before={(long)page["next"]!}&verdict=NG"))!;
        Assert.Equal([2L, 1], next["items"]!.AsArray().Select(i => (long)i!["sequence"]!));

        var cameras = (await sam.GetFromJsonAsync<JsonArray>("/api/cameras"))!;
        var cam1 = cameras.Single(c => (string?)c!["id"] == "cam1")!;
        Assert.Equal("streaming", (string?)cam1["state"]);
        Assert.Equal("P-10", (string?)cam1["last"]!["partId"]);
        Assert.Equal(640, (int)cam1["sourceWidth"]!);
        Assert.Equal(7, (long)cam1["shift"]!["ok"]!);
        Assert.Equal(2, (long)cam1["shift"]!["ng"]!);
        Assert.Equal(1, (long)cam1["shift"]!["unknown"]!);
        Assert.Equal(0.7778, (double)cam1["shift"]!["yield"]!);
        Assert.Equal("triggered", (string?)cameras.Single(c => (string?)c!["id"] == "cam2")!["mode"]);

        var shift = (await sam.GetFromJsonAsync<JsonObject>("/api/shift"))!;
        Assert.Equal(2, (long)shift["cameras"]!["cam1"]!["ng"]!);
        Assert.True((DateTimeOffset)shift["start"]! <= DateTimeOffset.Now && (DateTimeOffset)shift["end"]! > DateTimeOffset.Now);
    }

    [Fact]
    public async Task AuditEventsGoToOperatorsOnly()
    {
        await using var web = await WebApp.StartAsync();
        using var sam = await web.SignedInAsync("sam");
        using var ana = await web.SignedInAsync("ana");
        using var viewer = await OpenAsync(sam, "/api/events");
        using var operatorEvents = await OpenAsync(ana, "/api/events");
        await viewer.NextAsync(Wait);
        await operatorEvents.NextAsync(Wait);
        await web.Publish(SinkItem.ForEvent(new ServiceEvent("audit", """{"command":"promote","outcome":"accepted"}"""u8.ToArray())));
        await web.Publish(SinkItem.ForEvent(new ServiceEvent("model", """{"version":"4"}"""u8.ToArray())));

        Assert.Equal("audit", (await operatorEvents.NextAsync(Wait, "stats")).Name);
        Assert.Equal("model", (await operatorEvents.NextAsync(Wait, "stats")).Name);
        Assert.Equal("model", (await viewer.NextAsync(Wait, "stats")).Name);
        Assert.Equal("promote", (string?)(await ana.GetFromJsonAsync<JsonArray>("/api/audit"))![0]!["command"]);
    }

    [Fact]
    public async Task StreamsBeyondTheLimitAreRefused()
    {
        await using var web = await WebApp.StartAsync(o => o.Live.MaxStreams = 2);
        using var sam = await web.SignedInAsync("sam");
        using var one = await OpenAsync(sam, "/api/events");
        using var two = await OpenAsync(sam, "/api/events");
        using var three = await sam.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, three.StatusCode);
    }

    private static async Task<SseReader> OpenAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/event-stream", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        return new SseReader(await response.Content.ReadAsStreamAsync());
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Inspection.Datasets;

namespace Inspection.Web.Tests;

/// <summary>
/// The evidence API over real HTTP: pictures by id with Basic auth for HMIs, never a byte from outside the
/// evidence folder, 404 once evicted; the gallery's pages; review bodies checked before anything runs.
/// </summary>
public sealed class EvidenceTests
{
    private const string Id = "20261128T170211483_cam1_1842_A-7731";
    private const string Canary = "CANARY outside the evidence folder";

    [Fact]
    public async Task APictureIsServedByItsIdAndNothingOutsideTheFolderEver()
    {
        await using var web = await WebApp.StartAsync();
        var picture = Keep(web, Id);
        File.WriteAllText(web.Folder.File("secret.jpg"), Canary);
        File.WriteAllText(web.Folder.File("20261128T170211483_cam1_1.jpg"), Canary);
        var linked = "20261128T170211483_cam1_99";
        File.CreateSymbolicLink(Path.Combine(web.EvidenceRoot, "images", linked + ".jpg"), web.Folder.File("secret.jpg"));
        File.WriteAllText(Path.Combine(web.EvidenceRoot, "meta", linked + ".json"), Meta(linked));

        using var ana = await web.SignedInAsync("ana");
        using var served = await ana.GetAsync($"/api/evidence/{Id}.jpg");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(picture, await served.Content.ReadAsByteArrayAsync());

        foreach (var probe in new[]
        {
            "..%2F..%2Fsecret", "..%2Fsecret", "%2e%2e%2Fsecret", "%2e%2e%2f%2e%2e%2fsecret", "images%2F" + Id, "%2F" + web.Folder.Path.TrimStart('/').Replace("/", "%2F", StringComparison.Ordinal) + "%2Fsecret",
            "..%5C..%5Csecret", linked, "..%2F20261128T170211483_cam1_1", "20261128T170211483_cam1_1%2F..%2F..%2F..%2Fsecret",
        })
        {
            using var refused = await ana.GetAsync($"/api/evidence/{probe}.jpg");
            Assert.True(refused.StatusCode == HttpStatusCode.NotFound, $"{probe}: {refused.StatusCode}");
            Assert.DoesNotContain("CANARY", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        File.Delete(Path.Combine(web.EvidenceRoot, "images", Id + ".jpg")); // what the quota does
        using var evicted = await ana.GetAsync($"/api/evidence/{Id}.jpg");
        Assert.Equal(HttpStatusCode.NotFound, evicted.StatusCode);
        Assert.Contains("quota", await evicted.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnHmiFetchesThePictureWithBasicAuthAndNothingElseWithout()
    {
        await using var web = await WebApp.StartAsync();
        var picture = Keep(web, Id);
        using var hmi = web.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await hmi.GetAsync($"/api/evidence/{Id}.jpg")).StatusCode);

        hmi.DefaultRequestHeaders.Authorization = Basic("sam", "wrong");
        using var wrong = await hmi.GetAsync($"/api/evidence/{Id}.jpg");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("Basic", wrong.Headers.WwwAuthenticate.Single().Scheme);

        hmi.DefaultRequestHeaders.Authorization = Basic("plc1", WebApp.Password);
        Assert.Equal(HttpStatusCode.Unauthorized, (await hmi.GetAsync($"/api/evidence/{Id}.jpg")).StatusCode); // machines have no screen

        hmi.DefaultRequestHeaders.Authorization = Basic("sam", WebApp.Password);
        Assert.Equal(picture, await hmi.GetByteArrayAsync($"/api/evidence/{Id}.jpg"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await hmi.GetAsync("/api/evidence")).StatusCode); // the picture only
    }

    [Fact]
    public async Task TheGalleryListsItemsNewestFirstWithLabelsAndClasses()
    {
        await using var web = await WebApp.StartAsync();
        Keep(web, "20261128T170211483_cam1_1842");
        Keep(web, "20261128T170212000_cam2_7");
        Keep(web, Id);
        using var sam = await web.SignedInAsync("sam");

        var page = (await sam.GetFromJsonAsync<JsonObject>("/api/evidence?limit=2"))!;
        Assert.Equal(["20261128T170212000_cam2_7", Id], page["items"]!.AsArray().Select(i => (string?)i!["id"]));
        Assert.Equal(Id, (string?)page["next"]);
        var rest = (await sam.GetFromJsonAsync<JsonObject>($"/api/evidence?before={Id}"))!;
        Assert.Equal(["20261128T170211483_cam1_1842"], rest["items"]!.AsArray().Select(i => (string?)i!["id"]));
        var cam2 = (await sam.GetFromJsonAsync<JsonObject>("/api/evidence?camera=cam2"))!;
        Assert.Single(cam2["items"]!.AsArray());

        var item = (await sam.GetFromJsonAsync<JsonObject>($"/api/evidence/{Id}"))!;
        Assert.Equal("A-7731", (string?)item["partId"]);
        Assert.Equal("pending", (string?)item["status"]);
        Assert.Equal($"/api/evidence/{Id}.jpg", (string?)item["imageUrl"]);
        Assert.Equal(["crack", "scratch"], item["classes"]!.AsArray().Select(c => (string?)c));
        Assert.Equal("scratch", (string?)item["labels"]![0]!["class"]);
        Assert.Equal(HttpStatusCode.NotFound, (await sam.GetAsync("/api/evidence/..%2Fmeta")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await sam.GetAsync("/api/evidence?status=..")).StatusCode);
    }

    [Fact]
    public async Task AReviewRunsTheReviewCommandOnceItsBodyIsRight()
    {
        await using var web = await WebApp.StartAsync();
        Keep(web, Id);
        using var ana = await web.SignedInAsync("ana");
        var before = Tree(web.EvidenceRoot);

        var refusals = new (object Body, HttpStatusCode Status)[]
        {
            (new { action = "approve" }, HttpStatusCode.BadRequest),
            (new { action = "accept", labels = Array.Empty<object>() }, HttpStatusCode.BadRequest),
            (new { action = "relabel" }, HttpStatusCode.BadRequest),
            (new { action = "relabel", labels = new[] { new { classId = 0, cx = 1.5, cy = 0.5, w = 0.1, h = 0.1 } } }, HttpStatusCode.BadRequest),
            (new { action = "relabel", labels = new[] { new { classId = 5, cx = 0.5, cy = 0.5, w = 0.1, h = 0.1 } } }, HttpStatusCode.BadRequest),
            (new { action = "relabel", labels = Enumerable.Repeat(new { classId = 0, cx = 0.5, cy = 0.5, w = 0.1, h = 0.1 }, 501).ToArray() }, HttpStatusCode.BadRequest),
            (new { action = "accept", force = true }, HttpStatusCode.BadRequest),
            (new { action = "accept", padding = new string('x', 65 * 1024) }, HttpStatusCode.RequestEntityTooLarge),
        };
        foreach (var (body, status) in refusals)
        {
            using var refused = await ana.PostAsJsonAsync($"/api/evidence/{Id}/review", body);
            Assert.Equal(status, refused.StatusCode);
            Assert.NotNull((await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]);
        }

        using var notJson = await ana.PostAsync($"/api/evidence/{Id}/review", new StringContent("{action:", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        using var traversal = await ana.PostAsJsonAsync("/api/evidence/..%2F..%2Fetc%2Fpasswd/review", new { action = "accept" });
        Assert.True(traversal.StatusCode == HttpStatusCode.NotFound, await traversal.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await ana.PostAsJsonAsync("/api/evidence/20261128T170211483_cam1_5/review", new { action = "accept" })).StatusCode);
        using var sam = await web.SignedInAsync("sam");
        Assert.Equal(HttpStatusCode.Forbidden, (await sam.PostAsJsonAsync($"/api/evidence/{Id}/review", new { action = "accept" })).StatusCode);
        Assert.DoesNotContain(web.Line.Commands, c => c.Command == "review");
        Assert.Equal(before, Tree(web.EvidenceRoot));

        using var relabelled = await ana.PostAsJsonAsync($"/api/evidence/{Id}/review", new { action = "relabel", labels = new[] { new { classId = 1, cx = 0.5, cy = 0.25, w = 0.1, h = 0.2 } } });
        Assert.Equal(HttpStatusCode.OK, relabelled.StatusCode);
        var review = Assert.Single(web.Line.Commands, c => c.Command == "review");
        Assert.Equal(Id, (string?)review.Arguments["item"]);
        Assert.Equal("relabel", (string?)review.Arguments["action"]);
        Assert.Equal(["1 0.5 0.25 0.1 0.2"], review.Arguments["labels"]!.AsArray().Select(l => (string?)l));

        // once reviewed (the worker's command moved it), a second review is a conflict
        Directory.CreateDirectory(Path.Combine(web.EvidenceRoot, "reviewed", "meta"));
        File.Move(Path.Combine(web.EvidenceRoot, "meta", Id + ".json"), Path.Combine(web.EvidenceRoot, "reviewed", "meta", Id + ".json"));
        Assert.Equal(HttpStatusCode.Conflict, (await ana.PostAsJsonAsync($"/api/evidence/{Id}/review", new { action = "accept" })).StatusCode);
    }

    /// <summary>Writes an item as the worker keeps it; returns the picture's bytes.</summary>
    /// <summary>An evidence item as the worker keeps it: picture, labels and meta; returns the picture's bytes.</summary>
    internal static byte[] Keep(WebApp web, string id)
    {
        var root = web.EvidenceRoot;
        var writer = new YoloDatasetWriter(root);
        writer.CreateFolders();
        if (!File.Exists(writer.DataYamlPath))
        {
            writer.WriteDataYaml(["crack", "scratch"], "images", "images");
        }

        var picture = Encoding.ASCII.GetBytes("\xFF\xD8 picture of " + id);
        File.WriteAllBytes(Path.Combine(root, "images", id + ".jpg"), picture);
        File.WriteAllText(Path.Combine(root, "labels", id + ".txt"), "1 0.5 0.5 0.2 0.2\n");
        File.WriteAllText(Path.Combine(root, "meta", id + ".json"), Meta(id));
        return picture;
    }

    private static string Meta(string id) => new JsonObject
    {
        ["camera"] = id.Split('_')[1],
        ["sequence"] = long.Parse(id.Split('_')[2]),
        ["captureTime"] = "2026-11-28T17:02:11.483Z",
        ["model"] = new JsonObject { ["name"] = "demo", ["version"] = "3" },
        ["verdict"] = "NG",
        ["reason"] = null,
        ["partId"] = id.Split('_').Length > 3 ? id.Split('_')[3] : null,
        ["kind"] = "ng",
        ["detections"] = new JsonArray(new JsonObject { ["classId"] = 1, ["class"] = "scratch", ["score"] = 0.91, ["box"] = new JsonArray(10, 10, 50, 40) }),
    }.ToJsonString();

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static string Tree(string root) => string.Join('\n', Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(f => $"{Path.GetRelativePath(root, f)} {new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f).Ticks}"));
}

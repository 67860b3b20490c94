using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Access;
using Inspection.Models;
using Inspection.TestSupport;
using OpenQA.Selenium;

namespace Inspection.Web.Tests.Browser;

/// <summary>
/// The pages in a real headless Chromium against the real worker (its own process, file cameras, the embedded broker,
/// users with hashed passwords): what the issue asks the browser to show.
/// </summary>
[Collection("Browser")]
public sealed class WorkerPageTests
{
    private const string Line = "inspection/plant1/lineA";
    private const string Password = "line-3-secret";

    [SkippableFact]
    public async Task The_live_page_shows_both_cameras_their_counters_advance_and_a_frame_has_the_cameras_ratio()
    {
        using var folder = new TempFolder();
        using var line = StartWorker(folder, ["cam1", "cam2"], DemoPictures, withUsers: false);
        var worker = line.Process;
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        await WaitForWebAsync(worker);

        browser.Open(worker.WebUrl + "/");
        Assert.Equal(["cam1", "cam2"], browser.Driver.FindElements(By.CssSelector("article.camera")).Select(c => c.GetAttribute("data-camera")));
        foreach (var camera in new[] { "cam1", "cam2" })
        {
            string Frames() => browser.Driver.FindElement(By.CssSelector($"article[data-camera='{camera}'] dd.frames")).Text;
            browser.WaitFor(_ => long.TryParse(Frames(), CultureInfo.InvariantCulture, out var _), $"{camera}'s counter");
            var first = long.Parse(Frames(), CultureInfo.InvariantCulture);
            browser.WaitFor(_ => long.Parse(Frames(), CultureInfo.InvariantCulture) > first, $"{camera}'s counter to advance");

            var size = (IReadOnlyDictionary<string, object>)browser.AsyncScript(
                "const done = arguments[arguments.length - 1];" +
                "(async () => { const cameras = await (await fetch('/api/cameras')).json(); const c = cameras.find(x => x.id === arguments[0]);" +
                " const bitmap = await createImageBitmap(await (await fetch(`/api/cameras/${c.id}/latest.jpg`)).blob());" +
                " done({ w: bitmap.width, h: bitmap.height, sw: c.sourceWidth, sh: c.sourceHeight }); })().catch(e => done({ error: String(e) }));", camera)!;
            Assert.False(size.ContainsKey("error"), Convert.ToString(size.GetValueOrDefault("error"), CultureInfo.InvariantCulture));
            var (w, h, sw, sh) = (Convert.ToDouble(size["w"]), Convert.ToDouble(size["h"]), Convert.ToDouble(size["sw"]), Convert.ToDouble(size["sh"]));
            Assert.InRange(w * sh / sw, h - 1, h + 1); // the same ratio, give or take a pixel of scaling
        }

        browser.AssertNoConsoleErrors("live");
    }

    [SkippableFact]
    public async Task An_NG_result_on_MQTT_appears_in_the_feed_and_the_gallery_and_its_evidence_url_serves_the_same_picture()
    {
        using var folder = new TempFolder();
        using var worker = StartWorker(folder, ["station"], CrackPictures(folder), withUsers: true);
        await using var watcher = await WatchAsync(worker);
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        SignIn(browser, worker.Process, "ana", "/feed");

        await Waiting.WaitUntil(() => Results(watcher).Any(r => r["evidence"] is not null), "an NG result with evidence on MQTT", TimeSpan.FromSeconds(30));
        var ng = Results(watcher).First(r => r["evidence"] is not null);
        var (id, evidenceId) = ((string)ng["id"]!, (string)ng["evidence"]!["id"]!);
        Assert.Equal("NG", (string)ng["verdict"]!);

        browser.Driver.Navigate().Refresh(); // the feed's first page comes from /api/results; new ones by SSE
        browser.WaitFor(d => d.FindElements(By.CssSelector($"#feed tr[data-id='{id}']")).Count == 1, "the NG row in the feed", TimeSpan.FromSeconds(10));
        var row = browser.Driver.FindElement(By.CssSelector($"#feed tr[data-id='{id}']"));
        Assert.Equal(evidenceId, row.GetAttribute("data-evidence"));
        Assert.Equal($"/defects/{evidenceId}", new Uri(row.FindElement(By.CssSelector("a.evidence")).GetAttribute("href")!).AbsolutePath);

        // Every frame here is NG and kept (5 a second), and the gallery's first page holds the newest 48: the newest
        // NG on MQTT when the gallery opens is on it, where the first one may have been pushed to a later page.
        var newest = Results(watcher).Last(r => r["evidence"] is not null);
        (evidenceId, var url) = ((string)newest["evidence"]!["id"]!, (string)newest["evidence"]!["url"]!);
        browser.Open(worker.Process.WebUrl + "/defects");
        browser.WaitFor(d => d.FindElements(By.CssSelector($".tile[data-evidence='{evidenceId}']")).Count == 1, "the NG tile in the gallery", TimeSpan.FromSeconds(10));

        // The MQTT message's URL, as an HMI would fetch it (Basic auth), serves the stored picture, and so does the gallery.
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"vic:{Password}")));
        var served = await http.GetByteArrayAsync(url);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(folder.File("evidence"), "images", evidenceId + ".jpg")), served);
        var galleryHash = (string)browser.AsyncScript(
            "const done = arguments[arguments.length - 1];" +
            "fetch(document.querySelector(`.tile[data-evidence='${arguments[0]}'] img`).src).then(r => r.arrayBuffer()).then(b => crypto.subtle.digest('SHA-256', b))" +
            ".then(h => done([...new Uint8Array(h)].map(x => x.toString(16).padStart(2, '0')).join('')));", evidenceId)!;
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(served)), galleryHash);
        browser.AssertNoConsoleErrors("feed and gallery");
    }

    [SkippableFact]
    public async Task A_viewer_cannot_change_thresholds_or_promote_an_operator_can_and_each_attempt_is_audited()
    {
        using var folder = new TempFolder();
        using var worker = StartWorker(folder, ["station"], CrackPictures(folder), withUsers: true);
        await using var watcher = await WatchAsync(worker);
        using var browser = BrowserSession.Start(BrowserSession.Panel);

        SignIn(browser, worker.Process, "vic", "/rules");
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("input.threshold, button.save")));
        browser.Open(worker.Process.WebUrl + "/model");
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("button.promote, #rollback")));
        foreach (var (method, path, body) in new[] { ("POST", "/api/model/promote", "{\"version\":2}"), ("PUT", "/api/rules/station/thresholds", "{\"confidence\":0.9}") })
        {
            var status = Convert.ToInt64(browser.AsyncScript(
                "const done = arguments[arguments.length - 1];" +
                "fetch('/api/session').then(r => r.json()).then(s => fetch(arguments[1], { method: arguments[0], headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrfToken }, body: arguments[2] }))" +
                ".then(r => done(r.status));", method, path, body), CultureInfo.InvariantCulture);
            Assert.Equal(403, status);
        }

        await Waiting.WaitUntil(() => Audits(watcher).Count(a => (string)a["user"]! == "vic" && (string)a["outcome"]! == "refused") >= 2, "the viewer's refusals audited");
        Assert.All(Results(watcher).TakeLast(3), r => Assert.Equal("NG", (string)r["verdict"]!));

        browser.Driver.FindElement(By.Id("sign-out")).Click();
        // The page goes to /login once the session is gone; signing in before that would race its navigation.
        browser.WaitFor(d => new Uri(d.Url).AbsolutePath == "/login" && d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true", "the login page after signing out");
        SignIn(browser, worker.Process, "ana", "/rules");
        var input = browser.Driver.FindElement(By.CssSelector("tr[data-camera='station'] td[data-class='crack'] input.threshold"));
        input.Clear();
        input.SendKeys(input.GetAttribute("max")!);
        browser.Driver.FindElement(By.CssSelector("tr[data-camera='station'] td[data-class='crack'] button.save")).Click();
        await Waiting.WaitUntil(() => Audits(watcher).Any(a => (string)a["user"]! == "ana" && (string)a["source"]! == "web" && (string)a["command"]! == "set-thresholds" && (string)a["outcome"]! == "accepted"), "the operator's change audited");
        var before = Results(watcher).Count;
        await Waiting.WaitUntil(() => Results(watcher).Skip(before).Count(r => (string)r["verdict"]! == "OK") >= 2, "verdicts under the new threshold");
        browser.AssertNoConsoleErrors("rules");
    }

    [SkippableFact]
    public async Task The_model_page_shows_the_registrys_versions_and_an_operator_promotes_one_from_its_row()
    {
        using var folder = new TempFolder();
        var registry = new ModelRegistry(folder.File("registry"));
        var onnx = Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "workpiece-crack-yolov8n-320.onnx");
        foreach (var map50 in new[] { 0.61, 0.64 })
        {
            registry.Register("crack", onnx, new ModelCard
            {
                Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320,
                Metrics = new Dictionary<string, double> { ["mAP50"] = map50, ["mAP50_95"] = map50 / 2 },
            });
        }

        var (privateKey, _, keyId) = SigningKeys.Generate(folder.File("keys"));
        using (var key = SigningKeys.LoadPrivateKey(privateKey))
        {
            ModelSignature.Sign(registry.Get("crack", 2), key);
        }

        registry.Promote("crack", 1);
        using var worker = StartWorker(folder, ["station"], DemoPictures, withUsers: true, settings: new() { ["Inspection:Model:Registry"] = registry.Root, ["Inspection:Model:Name"] = "crack" });
        await WaitForWebAsync(worker.Process);
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        SignIn(browser, worker.Process, "ana", "/model");

        string Row(string version) => browser.Driver.FindElement(By.CssSelector($"table.versions tr[data-version='{version}']")).Text;
        Assert.Equal(["2", "1"], browser.Driver.FindElements(By.CssSelector("table.versions tbody tr")).Select(r => r.GetAttribute("data-version")));
        Assert.Contains("serving", Row("1"), StringComparison.Ordinal);
        Assert.Contains("mAP50 0.640", Row("2"), StringComparison.Ordinal);
        Assert.Equal(keyId[..16] + "…", browser.Driver.FindElement(By.CssSelector("tr[data-version='2'] td.signature")).Text);
        Assert.Equal("not signed", browser.Driver.FindElement(By.CssSelector("tr[data-version='1'] td.signature")).Text);
        Assert.Contains(registry.Get("crack", 1).Card.Sha256[..16], browser.Driver.FindElement(By.CssSelector("#model article")).Text, StringComparison.Ordinal);
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("tr[data-version='1'] button.promote")));

        browser.Driver.FindElement(By.CssSelector("tr[data-version='2'] button.promote")).Click();
        browser.WaitFor(_ => Row("2").Contains("serving", StringComparison.Ordinal), "version 2 serving", TimeSpan.FromSeconds(60));
        Assert.Equal(2, registry.Pointer("crack")!.Version);
        Assert.Single(browser.Driver.FindElements(By.CssSelector("tr[data-version='1'] button.promote")));
        Assert.Single(browser.Driver.FindElements(By.Id("rollback")));
        browser.AssertNoConsoleErrors("model");
    }

    [SkippableFact]
    public async Task Reviewing_in_the_browser_moves_the_items_as_dataset_review_does_and_dataset_check_passes()
    {
        using var folder = new TempFolder();
        using var worker = StartWorker(folder, ["station"], CrackPictures(folder), withUsers: true);
        var images = Path.Combine(folder.File("evidence"), "images");
        await Waiting.WaitUntil(() => Directory.Exists(images) && Directory.GetFiles(images, "*.jpg").Length >= 3, "three evidence items", TimeSpan.FromSeconds(60));
        worker.Process.Terminate(TimeSpan.FromSeconds(30)); // the quota and new items would change the tree under the comparison

        var items = Directory.GetFiles(images, "*.jpg").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal).Take(3).ToList();
        var copy = folder.File("evidence-cli");
        CopyTree(folder.File("evidence"), copy);
        using var restarted = StartWorker(folder, ["station"], CrackPictures(folder), withUsers: true, collect: false);
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        await WaitForWebAsync(restarted.Process);
        SignIn(browser, restarted.Process, "ana", $"/defects/{items[0]}");
        browser.Driver.FindElement(By.Id("accept")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("status")).Text == "reviewed", "accepted");
        browser.Open(restarted.Process.WebUrl + $"/defects/{items[1]}");
        browser.Driver.FindElements(By.CssSelector("select.label-class"))[0].FindElement(By.CssSelector("option[value='0']")).Click();
        var labels = string.Join("; ", File.ReadAllLines(Path.Combine(folder.File("evidence"), "labels", items[1] + ".txt")).Where(l => l.Length > 0).Select((l, i) => i == 0 ? "0" + l[l.IndexOf(' ', StringComparison.Ordinal)..] : l));
        browser.Driver.FindElement(By.Id("relabel")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("status")).Text == "reviewed", "relabelled");
        browser.Open(restarted.Process.WebUrl + $"/defects/{items[2]}");
        browser.Driver.FindElement(By.Id("reject")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("status")).Text == "rejected", "rejected");

        var cli = await CliRunner.RunAsync("dataset", "review", copy, "--accept", items[0], "--reject", items[2], "--relabel", items[1], "--labels", labels);
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        Assert.Equal(Tree(copy), Tree(folder.File("evidence")));
        var check = await CliRunner.RunAsync("dataset", "check", Path.Combine(folder.File("evidence"), "reviewed"));
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        browser.AssertNoConsoleErrors("review");
    }

    [SkippableFact]
    public async Task Every_page_loads_with_every_other_host_unreachable_without_console_errors_at_both_sizes()
    {
        using var folder = new TempFolder();
        using var worker = StartWorker(folder, ["station", "cam2"], CrackPictures(folder), withUsers: true);
        await WaitForWebAsync(worker.Process);
        var evidence = Path.Combine(folder.File("evidence"), "images");
        await Waiting.WaitUntil(() => Directory.Exists(evidence) && Directory.GetFiles(evidence, "*.jpg").Length > 0, "an evidence item", TimeSpan.FromSeconds(60));
        var item = Path.GetFileNameWithoutExtension(Directory.GetFiles(evidence, "*.jpg")[0]);
        foreach (var viewport in new[] { BrowserSession.Panel, BrowserSession.Phone })
        {
            using var browser = BrowserSession.Start(viewport);
            SignIn(browser, worker.Process, "ana", "/");
            foreach (var (name, path) in new[] { ("live", "/"), ("camera", "/camera/station"), ("feed", "/feed"), ("defects", "/defects"), ("review", $"/defects/{item}"), ("model", "/model"), ("rules", "/rules") })
            {
                browser.Open(worker.Process.WebUrl + path);
                await Task.Delay(1500);
                browser.AssertNoConsoleErrors(path);
                Assert.All(browser.ResourceHosts(), host => Assert.Equal("127.0.0.1", host));
                browser.Screenshot(name, viewport);
            }
        }
    }

    private static string DemoPictures => Path.Combine(SharedData.RepositoryRoot, "models", "workpiece-crack", "demo");

    /// <summary>A folder holding only the demo's crack picture, so every verdict is NG and kept as evidence.</summary>
    private static string CrackPictures(TempFolder folder)
    {
        var pictures = Directory.CreateDirectory(folder.File("ng")).FullName;
        var crack = Directory.GetFiles(DemoPictures, "*.jpg").Order(StringComparer.Ordinal).ElementAt(4);
        File.Copy(crack, Path.Combine(pictures, Path.GetFileName(crack)), overwrite: true);
        return pictures;
    }

    private sealed record RunningLine(WorkerProcess Process, int BrokerPort) : IDisposable
    {
        public void Dispose() => Process.Dispose();
    }

    private static RunningLine StartWorker(TempFolder folder, string[] cameras, string pictures, bool withUsers, bool collect = true, Dictionary<string, string>? settings = null)
    {
        var brokerPort = ServerProcess.FreePort();
        settings = new Dictionary<string, string>(settings ?? [])
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Inspection:Mqtt:Site"] = "plant1",
            ["Inspection:Mqtt:Line"] = "lineA",
            ["Inspection:Mqtt:Queue:Directory"] = folder.File("queue"),
            ["Inspection:Evidence:Enabled"] = "true",
            ["Inspection:Evidence:Directory"] = folder.File("evidence"),
            ["Inspection:Model:HeartbeatInterval"] = "00:00:00",
            ["Inspection:Sparkplug:BdSeqFile"] = folder.File("bdseq"),
            ["Inspection:Web:KeysDirectory"] = folder.File("web-keys"),
        };
        if (withUsers)
        {
            settings["Inspection:Access:UsersFile"] = UsersFile(folder);
            settings["Inspection:Mqtt:Username"] = "worker";
            settings["Inspection:Mqtt:PasswordFile"] = folder.File("worker-password");
            File.WriteAllText(folder.File("worker-password"), Password);
        }

        if (!collect)
        {
            // Reviews only: the evidence folder stays as it is (no new NG or uncertain items under the comparison).
            settings["Inspection:Evidence:SaveNg"] = "false";
            settings["Inspection:Evidence:UncertainSampleRate"] = "0";
        }

        for (var i = 0; i < cameras.Length; i++)
        {
            settings[$"Inspection:Cameras:{i}:Id"] = cameras[i];
            settings[$"Inspection:Cameras:{i}:Uri"] = pictures;
            settings[$"Inspection:Cameras:{i}:Kind"] = "Folder";
            settings[$"Inspection:Cameras:{i}:FolderFps"] = "5";
            settings[$"Inspection:Cameras:{i}:Loop"] = "true";
            settings[$"Inspection:Cameras:{i}:Integrity:FrozenAfter"] = "01:00:00"; // one still picture looped is not a frozen camera here
        }

        return new RunningLine(WorkerProcess.Start(folder.Path, settings), brokerPort);
    }

    /// <summary>An operator's MQTT subscriber on the whole line, once the worker serves (its embedded broker is up before the screen's listener).</summary>
    private static async Task<MqttSubscriber> WatchAsync(RunningLine worker)
    {
        await WaitForWebAsync(worker.Process);
        return await MqttSubscriber.StartAsync(worker.BrokerPort, $"{Line}/#", "watcher", "ana", Password);
    }

    /// <summary>The operator ana, the SCADA viewer vic and the worker's own broker login, with PBKDF2 hashes.</summary>
    private static string UsersFile(TempFolder folder)
    {
        var path = folder.File("users.json");
        if (!File.Exists(path))
        {
            var users = new JsonArray([.. new[] { ("ana", Role.Operator), ("vic", Role.Scada), ("worker", Role.Worker) }
                .Select(u => (JsonNode?)new JsonObject { ["name"] = u.Item1, ["role"] = u.Item2.ToString(), ["passwordHash"] = PasswordHash.Create(Password) })]);
            File.WriteAllText(path, new JsonObject { ["users"] = users }.ToJsonString());
        }

        return path;
    }

    private static async Task WaitForWebAsync(WorkerProcess worker)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Waiting.WaitUntil(() =>
        {
            try
            {
                return http.GetAsync(worker.WebUrl + "/api/session").GetAwaiter().GetResult().StatusCode is System.Net.HttpStatusCode.OK or System.Net.HttpStatusCode.Unauthorized;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, "the web view's listener", TimeSpan.FromSeconds(60), () => string.Join("\n", worker.Lines.TakeLast(30)));
    }

    private static void SignIn(BrowserSession browser, WorkerProcess worker, string user, string page)
    {
        browser.Open(worker.WebUrl + "/login?return=" + Uri.EscapeDataString(page));
        browser.Driver.FindElement(By.Id("user")).SendKeys(user);
        browser.Driver.FindElement(By.Id("password")).SendKeys(Password);
        browser.Driver.FindElement(By.CssSelector("button[type=submit]")).Click();
        browser.WaitFor(d => new Uri(d.Url).AbsolutePath == page.Split('?')[0] && d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true", $"{page} after signing in as {user}");
        browser.ConsoleEntries(); // the login page's expected 401 (signed out) is not the next page's
    }

    private static List<JsonNode> Results(MqttSubscriber watcher) =>
        [.. watcher.Snapshot().Where(m => m.Topic.EndsWith("/result", StringComparison.Ordinal)).Select(m => JsonNode.Parse(m.Payload)!)];

    private static List<JsonNode> Audits(MqttSubscriber watcher) =>
        [.. watcher.Snapshot().Where(m => m.Topic == $"{Line}/service/audit").Select(m => JsonNode.Parse(m.Payload)!)];

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>Every file under the folder with its bytes' hash; meta files compared without their review time.</summary>
    private static List<string> Tree(string root) =>
        [.. Directory.GetFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(f =>
        {
            var relative = Path.GetRelativePath(root, f);
            var content = f.EndsWith(".json", StringComparison.Ordinal)
                ? JsonSerializer.Serialize(Without(JsonNode.Parse(File.ReadAllText(f))!, "reviewed", "reviewedBy", "reviewTime"))
                : Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)));
            return $"{relative} {content}";
        })];

    private static JsonNode Without(JsonNode node, params string[] names)
    {
        if (node is JsonObject o)
        {
            foreach (var name in names)
            {
                o.Remove(name);
            }
        }

        return node;
    }
}

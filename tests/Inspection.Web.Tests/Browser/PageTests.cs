using Inspection.TestSupport;
using OpenQA.Selenium;

namespace Inspection.Web.Tests.Browser;

/// <summary>
/// The pages in a real headless Chromium against <see cref="MockLine"/>: layout at a 1366x768 panel and a phone,
/// no console errors, nothing loaded from another host, and operator controls only for operators.
/// </summary>
[Collection("Browser")]
public sealed class PageTests
{
    private static readonly string[] PagePaths = ["/", "/camera/cam1", "/feed", "/defects", $"/defects/{MockLine.EvidenceId(0)}", "/model", "/rules"];

    public static TheoryData<string> Viewports => new() { BrowserSession.Panel.Name, BrowserSession.Phone.Name };

    [SkippableTheory]
    [MemberData(nameof(Viewports))]
    public async Task Every_page_renders_offline_fits_the_screen_and_logs_no_error(string viewportName)
    {
        var viewport = viewportName == BrowserSession.Panel.Name ? BrowserSession.Panel : BrowserSession.Phone;
        await using var line = await MockLine.StartAsync("operator");
        using var browser = BrowserSession.Start(viewport);
        foreach (var path in PagePaths)
        {
            browser.Open(line.Url + path);
            await Task.Delay(1500); // frames, events and pictures arrive
            browser.AssertNoConsoleErrors(path);
            Assert.All(browser.ResourceHosts(), host => Assert.Equal("127.0.0.1", host));
            var overflow = Convert.ToInt64(browser.Script("return document.documentElement.scrollWidth - window.innerWidth;"));
            Assert.True(overflow <= 0, $"{path} at {viewport.Name} is {overflow} px wider than the screen");
            browser.Screenshot(Name(path), viewport);
        }

        if (viewport == BrowserSession.Panel)
        {
            // The overview fits the panel without scrolling.
            browser.Open(line.Url + "/");
            var scroll = Convert.ToInt64(browser.Script("return document.documentElement.scrollHeight - window.innerHeight;"));
            Assert.True(scroll <= 0, $"the live overview needs {scroll} px of scrolling at 1366x768");
        }
    }

    [SkippableFact]
    public async Task A_viewer_gets_no_operator_control_and_an_operator_acts_with_the_csrf_token()
    {
        await using var line = await MockLine.StartAsync("viewer");
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        browser.Open(line.Url + "/model");
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("button.promote, #rollback, #heartbeat, button.shadow")));
        browser.Open(line.Url + "/rules");
        Assert.NotEmpty(browser.Driver.FindElements(By.CssSelector("table.rules .value")));
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("input.threshold, button.save")));
        browser.Open(line.Url + $"/defects/{MockLine.EvidenceId(0)}");
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("#accept, #reject, #relabel, select.label-class")));
        browser.AssertNoConsoleErrors("viewer pages");
        Assert.Empty(line.Actions);

        await using var operatorLine = await MockLine.StartAsync("operator");
        browser.Open(operatorLine.Url + "/model");
        browser.Driver.FindElement(By.CssSelector("tr[data-version='4'] button.promote")).Click();
        browser.WaitFor(_ => operatorLine.Actions.Count == 1, "the promote request");
        Assert.Equal("POST /api/model/promote {\"version\":4}", operatorLine.Actions[0]);

        browser.Open(operatorLine.Url + "/rules");
        var input = browser.Driver.FindElement(By.CssSelector("tr[data-camera='cam1'] td[data-class='crack'] input.threshold"));
        input.Clear();
        input.SendKeys("0.72");
        browser.Driver.FindElement(By.CssSelector("tr[data-camera='cam1'] td[data-class='crack'] button.save")).Click();
        browser.WaitFor(d => d.FindElement(By.CssSelector("tr[data-camera='cam1'] td[data-class='crack'] input.threshold")).GetAttribute("value") == "0.72" && operatorLine.Actions.Count == 2, "the saved threshold");
        Assert.Equal("PUT /api/rules/cam1/thresholds {\"class\":\"crack\",\"confidence\":0.72}", operatorLine.Actions[1]);

        // A value outside the limits: the worker's refusal is shown, nothing else.
        input = browser.Driver.FindElement(By.CssSelector("tr[data-camera='cam2'] td[data-class='dent'] input.threshold"));
        input.Clear();
        input.SendKeys("0.99");
        browser.Driver.FindElement(By.CssSelector("tr[data-camera='cam2'] td[data-class='dent'] button.save")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("notice")).Text.Contains("outside 0.1..0.9", StringComparison.Ordinal), "the refusal");
    }

    [SkippableFact]
    public async Task The_model_page_lists_the_registrys_versions_with_a_promote_button_for_each_one_not_serving()
    {
        await using var line = await MockLine.StartAsync("operator");
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        browser.Open(line.Url + "/model");
        var rows = browser.Driver.FindElements(By.CssSelector("table.versions tbody tr"));
        Assert.Equal(["4", "3", "2", "1"], rows.Select(r => r.GetAttribute("data-version")));
        Assert.Equal([true, false, true, true], rows.Select(r => r.FindElements(By.CssSelector("button.promote")).Count == 1));
        Assert.Contains("serving", rows[1].Text, StringComparison.Ordinal);
        Assert.Contains("mAP50 0.760", rows[1].FindElement(By.CssSelector("td.metrics")).Text, StringComparison.Ordinal);
        Assert.Equal(["3f1c9a0be47d52e6…", "3f1c9a0be47d52e6…", "3f1c9a0be47d52e6…", "not signed"], rows.Select(r => r.FindElement(By.CssSelector("td.signature")).Text));
        var serving = browser.Driver.FindElement(By.CssSelector("#model article")).Text;
        Assert.Contains("5e3a41ab9f2c1c07…", serving, StringComparison.Ordinal); // the card's SHA-256
        Assert.Contains("mAP50_95", serving, StringComparison.Ordinal);

        rows[2].FindElement(By.CssSelector("button.promote")).Click();
        browser.WaitFor(_ => line.Actions.Count == 1, "the promote request");
        Assert.Equal("POST /api/model/promote {\"version\":2}", line.Actions[0]);
        browser.AssertNoConsoleErrors("model");
    }

    [SkippableFact]
    public async Task A_feed_row_kept_as_evidence_opens_its_review_page()
    {
        await using var line = await MockLine.StartAsync("operator");
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        browser.Open(line.Url + "/feed");
        var row = browser.Driver.FindElements(By.CssSelector("#feed tr[data-evidence]"))[0];
        var id = row.GetAttribute("data-evidence")!;
        Assert.Equal($"/defects/{id}", new Uri(row.FindElement(By.CssSelector("a.evidence")).GetAttribute("href")!).AbsolutePath);
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("#feed tr:not([data-evidence]) a.evidence")));

        browser.Script("arguments[0].click();", row.FindElement(By.CssSelector("td"))); // new rows keep arriving above it: a scripted click stays on it
        browser.WaitFor(d => new Uri(d.Url).AbsolutePath == $"/defects/{id}" && d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true", "the review page");
        Assert.Equal(id, browser.Driver.FindElement(By.TagName("h1")).Text);
        browser.AssertNoConsoleErrors("feed to review");
    }

    [SkippableFact]
    public async Task Review_in_the_browser_sends_accept_relabel_and_reject()
    {
        await using var line = await MockLine.StartAsync("operator");
        using var browser = BrowserSession.Start(BrowserSession.Panel);

        browser.Open(line.Url + $"/defects/{MockLine.EvidenceId(0)}");
        browser.Driver.FindElement(By.Id("accept")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("status")).Text == "reviewed", "the accepted status");

        browser.Open(line.Url + $"/defects/{MockLine.EvidenceId(1)}");
        browser.Driver.FindElements(By.CssSelector("select.label-class"))[1].FindElement(By.CssSelector("option[value='2']")).Click();
        browser.Driver.FindElement(By.Id("relabel")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("status")).Text == "reviewed", "the relabelled status");

        browser.Open(line.Url + $"/defects/{MockLine.EvidenceId(2)}");
        browser.Driver.FindElement(By.Id("reject")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("status")).Text == "rejected", "the rejected status");

        Assert.Equal(
        [
            $"POST /api/evidence/{MockLine.EvidenceId(0)}/review {{\"action\":\"accept\"}}",
            $"POST /api/evidence/{MockLine.EvidenceId(1)}/review {{\"action\":\"relabel\",\"labels\":[{{\"classId\":0,\"cx\":0.4,\"cy\":0.45,\"w\":0.2,\"h\":0.3}},{{\"classId\":2,\"cx\":0.7,\"cy\":0.25,\"w\":0.15,\"h\":0.1}}]}}",
            $"POST /api/evidence/{MockLine.EvidenceId(2)}/review {{\"action\":\"reject\"}}",
        ], line.Actions);

        // The gallery of pending items no longer shows them.
        browser.Open(line.Url + "/defects");
        var shown = browser.Driver.FindElements(By.CssSelector(".tile")).Select(t => t.GetAttribute("data-evidence")).ToList();
        Assert.Empty(shown.Intersect([MockLine.EvidenceId(0), MockLine.EvidenceId(1), MockLine.EvidenceId(2)]));
        Assert.Subset(shown.ToHashSet(), new HashSet<string?> { MockLine.EvidenceId(3), MockLine.EvidenceId(4), MockLine.EvidenceId(5) });
        browser.AssertNoConsoleErrors("review");
    }

    [SkippableFact]
    public async Task The_live_page_chains_frames_and_its_counters_advance()
    {
        await using var line = await MockLine.StartAsync("operator");
        using var browser = BrowserSession.Start(BrowserSession.Panel);
        browser.Open(line.Url + "/");
        Assert.Equal(2, browser.Driver.FindElements(By.CssSelector("article.camera")).Count);
        string Frames(string camera) => browser.Driver.FindElement(By.CssSelector($"article[data-camera='{camera}'] dd.frames")).Text;
        browser.WaitFor(_ => Frames("cam1") != "–", "the first stats");
        var first = long.Parse(Frames("cam1"), System.Globalization.CultureInfo.InvariantCulture);
        browser.WaitFor(_ => long.Parse(Frames("cam1"), System.Globalization.CultureInfo.InvariantCulture) > first, "the frame counter to advance");
        browser.WaitFor(d => Convert.ToInt64(browser.Script("return document.querySelector(\"article[data-camera='cam2'] img.frame\").naturalWidth;")) > 0, "cam2's frame");
        browser.AssertNoConsoleErrors("live");
    }

    [SkippableFact]
    public async Task Signing_in_returns_to_the_page_asked_for_and_a_wrong_password_says_so()
    {
        await using var line = await MockLine.StartAsync(signedIn: null);
        using var browser = BrowserSession.Start(BrowserSession.Phone);
        browser.Driver.Navigate().GoToUrl(line.Url + "/rules");
        browser.WaitFor(d => d.Url.Contains("/login?return=%2Frules", StringComparison.Ordinal) && d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true", "the login page");
        browser.Screenshot("login", BrowserSession.Phone);
        browser.Driver.FindElement(By.Id("user")).SendKeys(MockLine.ViewerUser);
        browser.Driver.FindElement(By.Id("password")).SendKeys("wrong");
        browser.Driver.FindElement(By.CssSelector("button[type=submit]")).Click();
        browser.WaitFor(d => d.FindElement(By.Id("notice")).Text == "unknown user or wrong password", "the refusal");

        browser.Driver.FindElement(By.Id("password")).Clear();
        browser.Driver.FindElement(By.Id("password")).SendKeys(MockLine.Password);
        browser.Driver.FindElement(By.CssSelector("button[type=submit]")).Click();
        browser.WaitFor(d => new Uri(d.Url).AbsolutePath == "/rules" && d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true", "the rules page");
        Assert.Contains("vic · viewer", browser.Driver.FindElement(By.CssSelector(".who")).Text, StringComparison.Ordinal);

        // The browser's own lines for the expected 401 of the signed-out session and the wrong password are the only ones.
        Assert.All(browser.ConsoleEntries().Where(e => e.Level == LogLevel.Severe), e => Assert.Contains("401", e.Message, StringComparison.Ordinal));
    }

    private static string Name(string path) => path switch
    {
        "/" => "live",
        _ when path.StartsWith("/defects/", StringComparison.Ordinal) => "review",
        _ when path.StartsWith("/camera/", StringComparison.Ordinal) => "camera",
        _ => path.Trim('/'),
    };
}

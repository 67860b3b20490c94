using System.Globalization;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Xunit;

namespace Inspection.TestSupport;

/// <summary>
/// Debian's headless Chromium driven by its own chromedriver (the same version, so Selenium Manager never downloads
/// one). Every host but 127.0.0.1 and localhost is unreachable, as on a line without internet. Console errors and
/// failed loads are read back after each page.
/// </summary>
public sealed class BrowserSession : IDisposable
{
    public const string Chromium = "/usr/bin/chromium";
    public const string ChromeDriver = "/usr/bin/chromedriver";

    /// <summary>A 1366x768 panel PC and a phone (390x844 CSS pixels at 3x, touch).</summary>
    public static readonly Viewport Panel = new("1366x768", 1366, 768, 1, Mobile: false);
    public static readonly Viewport Phone = new("phone", 390, 844, 3, Mobile: true);

    private readonly TempFolder _profile;
    private readonly ChromeDriver _driver;

    private BrowserSession(ChromeDriver driver, TempFolder profile)
    {
        _driver = driver;
        _profile = profile;
    }

    public IWebDriver Driver => _driver;

    /// <summary>Where screenshots go: $INSPECTION_SCREENSHOTS, else tests/Inspection.Web.Tests/TestResults/screenshots.</summary>
    public static string ScreenshotFolder => Environment.GetEnvironmentVariable("INSPECTION_SCREENSHOTS") is { Length: > 0 } custom
        ? custom
        : Path.Combine(SharedData.RepositoryRoot, "tests", "Inspection.Web.Tests", "TestResults", "screenshots");

    /// <summary>Starts Chromium, or skips (fails in CI) with the apt line when it is not installed.</summary>
    public static BrowserSession Start(Viewport viewport, IEnumerable<string>? extraArguments = null)
    {
        if (!File.Exists(Chromium) || !File.Exists(ChromeDriver))
        {
            var message = $"Chromium or chromedriver is missing ({Chromium}, {ChromeDriver}): apt-get install chromium chromium-driver (tools/install-deps.sh test).";
            throw SharedData.InCi ? new InvalidOperationException(message) : new SkipException(message);
        }

        // Selenium Manager would otherwise look for a driver online.
        Environment.SetEnvironmentVariable("SE_OFFLINE", "true");
        var profile = new TempFolder();
        var options = new ChromeOptions { BinaryLocation = Chromium };
        options.AddArguments(
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-default-apps", "--no-first-run", "--no-default-browser-check",
            $"--user-data-dir={profile.Path}", "--proxy-server=direct://", "--proxy-bypass-list=*",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            $"--window-size={viewport.Width},{viewport.Height}");
        options.AddArguments(extraArguments ?? []);
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        var session = new BrowserSession(driver, profile);
        session.Resize(viewport);
        return session;
    }

    /// <summary>The viewport as the device's own: CSS size, pixel ratio and touch (CDP Emulation).</summary>
    public void Resize(Viewport viewport)
    {
        _driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
        {
            ["width"] = viewport.Width, ["height"] = viewport.Height, ["deviceScaleFactor"] = viewport.Scale, ["mobile"] = viewport.Mobile,
        });
        _driver.ExecuteCdpCommand("Emulation.setTouchEmulationEnabled", new Dictionary<string, object?> { ["enabled"] = viewport.Mobile });
    }

    /// <summary>Opens <paramref name="url"/> and waits until the page says it is ready (body[data-ready]).</summary>
    public void Open(string url, TimeSpan? timeout = null)
    {
        _driver.Navigate().GoToUrl(url);
        WaitFor(d => d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true", $"{url} to be ready", timeout);
    }

    public void WaitFor(Func<IWebDriver, bool> condition, string what, TimeSpan? timeout = null)
    {
        var wait = new WebDriverWait(_driver, timeout ?? TimeSpan.FromSeconds(10)) { Message = $"timed out waiting for {what}" };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        try
        {
            wait.Until(condition);
        }
        catch (WebDriverTimeoutException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\nconsole: {string.Join("\n", ConsoleEntries().Select(l => l.Message))}");
        }
    }

    public object? Script(string script, params object[] arguments) => _driver.ExecuteScript(script, arguments);

    /// <summary>Runs an async script: the last argument is the callback, as WebDriver's executeAsyncScript gives it.</summary>
    public object? AsyncScript(string script, params object[] arguments) => _driver.ExecuteAsyncScript(script, arguments);

    /// <summary>Console messages and failed loads since the last call (chromedriver hands each entry out once).</summary>
    public IReadOnlyList<LogEntry> ConsoleEntries() => _driver.Manage().Logs.GetLog(LogType.Browser);

    /// <summary>Fails when the page logged a console error or failed to load a resource.</summary>
    public void AssertNoConsoleErrors(string page)
    {
        var severe = ConsoleEntries().Where(e => e.Level == LogLevel.Severe).Select(e => e.Message).ToList();
        Assert.True(severe.Count == 0, $"{page}: console errors:\n{string.Join("\n", severe)}");
    }

    /// <summary>Hosts of every resource the page loaded (performance timeline), for the no-internet check.</summary>
    public IReadOnlyList<string> ResourceHosts() =>
        ((IEnumerable<object>)Script("return performance.getEntriesByType('resource').map(e => new URL(e.name).hostname).concat([location.hostname]);")!)
            .Select(h => Convert.ToString(h, CultureInfo.InvariantCulture)!).Distinct().ToList();

    /// <summary>Saves a screenshot as {name}-{viewport}.png in <see cref="ScreenshotFolder"/> and returns its path.</summary>
    public string Screenshot(string name, Viewport viewport)
    {
        Directory.CreateDirectory(ScreenshotFolder);
        var path = Path.Combine(ScreenshotFolder, $"{name}-{viewport.Name}.png");
        _driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    public void Dispose()
    {
        _driver.Quit();
        _driver.Dispose();
        _profile.Dispose();
    }
}

/// <summary>A screen the pages must fit: CSS pixels, device pixel ratio, and whether it is a touch phone.</summary>
public sealed record Viewport(string Name, int Width, int Height, double Scale, bool Mobile);

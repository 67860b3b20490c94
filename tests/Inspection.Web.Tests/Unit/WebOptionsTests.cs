namespace Inspection.Web.Tests;

/// <summary>The screen's options: what is refused and why, and the base of the evidence URLs results carry.</summary>
public sealed class WebOptionsTests
{
    [Fact]
    public void TheDefaultsAreALoopbackListenerWithoutProblems()
    {
        var options = new WebOptions();
        Assert.Empty(options.Problems());
        Assert.Equal("http://127.0.0.1:9401", options.EvidenceBaseUrl());
    }

    [Theory]
    [InlineData("http://0.0.0.0:9401", "plain http")]
    [InlineData("https://0.0.0.0:9401", "Certificate:Path is not set")]
    [InlineData("ftp://127.0.0.1:9401", "is not a listener URL")]
    [InlineData("http://127.0.0.1:9401/screen", "is not a listener URL")]
    public void AScreenReachableFromOtherHostsNeedsHttpsAndUsers(string url, string expected)
    {
        var problems = new WebOptions { Url = url }.Problems();
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
        if (!url.Contains("127.0.0.1", StringComparison.Ordinal))
        {
            Assert.Contains(problems, p => p.Contains("Access:UsersFile", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void BehindATlsProxyHttpIsAllowedWithUsers()
    {
        using var folder = new Inspection.TestSupport.TempFolder();
        var users = folder.File("users.json");
        Inspection.Access.UsersFile.Save(users, [new Inspection.Access.AccessUser("ana", Inspection.Access.Role.Operator, Inspection.Access.PasswordHash.Create("x"))]);
        Assert.Empty(new WebOptions { Url = "http://0.0.0.0:9401", AllowHttp = true }.Problems(users));
    }

    [Fact]
    public void BadShiftTimesAndRatesAreNamed()
    {
        var problems = new WebOptions { ShiftStarts = ["6am"], Live = { Fps = 20, MaxFps = 10 }, PublicBaseUrl = "line3" }.Problems();
        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.Contains("'6am'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Live:Fps", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("PublicBaseUrl", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://0.0.0.0:9401", null, null)]
    [InlineData("http://[::]:9401", null, null)]
    [InlineData("http://line3-ipc:9401", null, "http://line3-ipc:9401")]
    [InlineData("http://0.0.0.0:9401", "https://line3-ipc:9401/", "https://line3-ipc:9401")]
    public void EvidenceUrlsNeedAConcreteAddress(string url, string? publicBase, string? expected) =>
        Assert.Equal(expected, new WebOptions { Url = url, PublicBaseUrl = publicBase }.EvidenceBaseUrl());
}

using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Inspection.Access;
using Inspection.TestSupport;

namespace Inspection.Web.Tests;

/// <summary>
/// The real worker with its two listeners: /metrics and /health only on Inspection:Http:Url, the screen only on
/// Inspection:Web:Url, so opening one to the plant network never opens the other.
/// </summary>
public sealed class ListenerTests
{
    [Fact]
    public async Task Each_listener_serves_only_its_own_endpoints()
    {
        using var folder = new TempFolder();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Inspection:Evidence:Enabled"] = "false",
        });
        var banner = await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));
        Assert.Contains($"Screen: {worker.WebUrl}/", banner, StringComparison.Ordinal);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = $"http://127.0.0.1:{worker.HttpPort}";
        foreach (var (url, expected) in new[]
        {
            ($"{metrics}/metrics", HttpStatusCode.OK),
            ($"{metrics}/health/live", HttpStatusCode.OK),
            ($"{worker.WebUrl}/api/cameras", HttpStatusCode.OK), // no users file: everyone on this host views
            ($"{worker.WebUrl}/", HttpStatusCode.OK),
            ($"{worker.WebUrl}/metrics", HttpStatusCode.NotFound),
            ($"{worker.WebUrl}/health/ready", HttpStatusCode.NotFound),
            ($"{metrics}/", HttpStatusCode.NotFound),
            ($"{metrics}/api/cameras", HttpStatusCode.NotFound),
            ($"{metrics}/api/evidence/x.jpg", HttpStatusCode.NotFound),
            ($"{metrics}/assets/app.js", HttpStatusCode.NotFound),
        })
        {
            using var response = await http.GetAsync(url);
            Assert.True(expected == response.StatusCode, $"{url}: {(int)response.StatusCode}, expected {(int)expected}");
        }
    }

    [Fact]
    public void A_screen_on_the_metrics_port_or_open_over_plain_http_is_refused_before_anything_starts()
    {
        using var folder = new TempFolder();
        var port = ServerProcess.FreePort();
        foreach (var (web, expected) in new[]
        {
            ($"http://127.0.0.1:{port}", $"Inspection:Web:Url 'http://127.0.0.1:{port}' has the port of Inspection:Http:Url ({port})"),
            ("http://0.0.0.0:9401", "Inspection:Web:Url 'http://0.0.0.0:9401' is reachable from other hosts over plain http"),
        })
        {
            using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
            {
                ["Inspection:Http:Url"] = $"http://127.0.0.1:{port}",
                ["Inspection:Web:Url"] = web,
            });
            Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains(worker.Lines, l => l.Contains(expected, StringComparison.Ordinal));
            Assert.DoesNotContain(worker.Lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Over_https_with_the_configured_certificate_the_session_cookies_are_secure_and_host_only()
    {
        using var folder = new TempFolder();
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(folder.File("screen.crt"), certificate.ExportCertificatePem());
        File.WriteAllText(folder.File("screen.key"), key.ExportPkcs8PrivateKeyPem());
        UsersFile.Save(folder.File("users.json"), [new AccessUser("ana", Role.Operator, PasswordHash.Create("line-3-secret"))]);

        var port = ServerProcess.FreePort();
        using var worker = WorkerProcess.Start(folder.Path, new Dictionary<string, string>
        {
            ["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Inspection:Evidence:Enabled"] = "false",
            ["Inspection:Access:UsersFile"] = folder.File("users.json"),
            ["Inspection:Web:Url"] = $"https://127.0.0.1:{port}",
            ["Inspection:Web:Certificate:Path"] = folder.File("screen.crt"),
            ["Inspection:Web:Certificate:KeyPath"] = folder.File("screen.key"),
        });
        await worker.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));

        using var handler = new HttpClientHandler
        {
            // This test's own certificate, and no other.
            ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == certificate.Thumbprint,
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        using var anonymous = await http.GetAsync("/api/session");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var token = (string)(await anonymous.Content.ReadFromJsonAsync<JsonObject>())!["csrfToken"]!;
        using var signIn = new HttpRequestMessage(HttpMethod.Post, "/api/session") { Content = JsonContent.Create(new { user = "ana", password = "line-3-secret" }) };
        signIn.Headers.Add("X-CSRF-Token", token);
        using var signedIn = await http.SendAsync(signIn);
        Assert.Equal(HttpStatusCode.OK, signedIn.StatusCode);

        var cookies = signedIn.Headers.GetValues("Set-Cookie").Concat(anonymous.Headers.GetValues("Set-Cookie")).ToList();
        Assert.Contains(cookies, c => c.StartsWith("__Host-inspection=", StringComparison.Ordinal));
        Assert.All(cookies, c =>
        {
            Assert.StartsWith("__Host-", c, StringComparison.Ordinal); // Secure, path /, no Domain: the browser enforces it
            Assert.Contains("; secure", c, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("; samesite=strict", c, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("domain=", c, StringComparison.OrdinalIgnoreCase);
        });
    }
}

using System.Diagnostics;
using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

/// <summary>
/// deploy/prometheus checked by Prometheus' own promtool (Debian's prometheus package): the scrape configuration,
/// the alert rules, and their unit tests, one per alert that fires when it should and stays silent when it should
/// not; and copies broken the way a hand edit breaks them fail.
/// </summary>
public sealed class AlertRuleTests
{
    public static string PrometheusFolder { get; } = Path.Combine(SharedData.RepositoryRoot, "deploy", "prometheus");

    [Fact]
    public async Task Configuration_rules_and_their_unit_tests_pass_promtool()
    {
        foreach (var args in new[] { new[] { "check", "config", "prometheus.yml" }, ["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"] })
        {
            var (exitCode, output) = await Promtool.RunAsync(PrometheusFolder, args);
            Assert.True(exitCode == 0, $"promtool {string.Join(' ', args)}:\n{output}");
        }
    }

    [Fact]
    public async Task Every_alert_has_a_unit_test_where_it_fires_with_its_annotations_and_one_where_it_is_silent()
    {
        using var rules = await Yaml.ReadAsync(Path.Combine(PrometheusFolder, "alerts.yml"));
        using var tests = await Yaml.ReadAsync(Path.Combine(PrometheusFolder, "alerts.test.yml"));
        var cases = tests.RootElement.GetProperty("tests").EnumerateArray()
            .SelectMany(t => t.GetProperty("alert_rule_test").EnumerateArray())
            .Select(c => (Alert: c.GetProperty("alertname").GetString()!, Expected: c.TryGetProperty("exp_alerts", out var e) && e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().ToList() : []))
            .ToList();
        var alerts = rules.RootElement.GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).Select(r => r.GetProperty("alert").GetString()!).ToList();
        Assert.True(alerts.Count >= 15, $"only {alerts.Count} alerts");
        foreach (var alert in alerts)
        {
            var firing = cases.Where(c => c.Alert == alert && c.Expected.Count > 0).SelectMany(c => c.Expected).ToList();
            Assert.True(firing.Count > 0, $"alert {alert} has no unit test in which it fires");
            Assert.All(firing, expected => Assert.True(
                expected.TryGetProperty("exp_annotations", out var annotations) && annotations.TryGetProperty("summary", out _) && annotations.TryGetProperty("description", out _),
                $"a test of {alert} expects it firing without checking its summary and description"));
            Assert.True(cases.Any(c => c.Alert == alert && c.Expected.Count == 0), $"alert {alert} has no unit test in which it stays silent");
        }
    }

    [Theory]
    [InlineData("alerts.yml", "rate(inspection_frames_dropped_total[5m])", "rat(inspection_frames_dropped_total[5m])", "check rules", "rat")]
    [InlineData("alerts.yml", "for: 1m", "for: 1 minute", "check rules", "1 minute")]
    [InlineData("alerts.yml", "[5m])) > 0.1", "[5m])) > 0.3", "test rules", "InspectionFramesDropped")]
    [InlineData("alerts.yml", "on (job, instance, camera) inspection_camera_triggered == 0", "on (job, instance, camera) inspection_camera_triggered >= 0", "test rules", "InspectionNoResults")]
    [InlineData("prometheus.yml", "scrape_interval: 15s", "scrape_interval: 15 s", "check config", "15 s")]
    public async Task A_copy_broken_as_a_hand_edit_breaks_it_fails_promtool(string file, string original, string broken, string check, string named)
    {
        using var folder = new TempFolder();
        foreach (var name in new[] { "prometheus.yml", "alerts.yml", "alerts.test.yml" })
        {
            File.Copy(Path.Combine(PrometheusFolder, name), Path.Combine(folder.Path, name));
        }

        var path = Path.Combine(folder.Path, file);
        var text = await File.ReadAllTextAsync(path);
        Assert.Contains(original, text); // the edit must hit the real file, or this test proves nothing
        await File.WriteAllTextAsync(path, text.Replace(original, broken, StringComparison.Ordinal));

        string[] args = [.. check.Split(' '), check == "check config" ? "prometheus.yml" : check == "check rules" ? "alerts.yml" : "alerts.test.yml"];
        var (exitCode, output) = await Promtool.RunAsync(folder.Path, args);
        Assert.True(exitCode != 0, $"promtool {check} passed a broken {file}:\n{output}");
        Assert.Contains(named, output, StringComparison.Ordinal);
    }
}

/// <summary>Runs Debian's promtool; a missing promtool fails the test (tools/install-deps.sh installs prometheus).</summary>
public static class Promtool
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string folder, string[] args, string? input = null)
    {
        var start = new ProcessStartInfo("promtool") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        Process promtool;
        try
        {
            promtool = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("promtool is not installed: run tools/install-deps.sh test (Debian package prometheus).", e);
        }

        using (promtool)
        {
            var output = promtool.StandardOutput.ReadToEndAsync();
            var error = promtool.StandardError.ReadToEndAsync();
            if (input is not null)
            {
                await promtool.StandardInput.WriteAsync(input);
                promtool.StandardInput.Close();
            }

            await promtool.WaitForExitAsync();
            return (promtool.ExitCode, await output + await error);
        }
    }
}

/// <summary>A YAML file read by PyYAML (Debian's python3-yaml), a reader that is not ours, as JSON.</summary>
public static class Yaml
{
    public static async Task<JsonDocument> ReadAsync(string path)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))", path })
        {
            start.ArgumentList.Add(arg);
        }

        using var python = Process.Start(start) ?? throw new InvalidOperationException("/usr/bin/python3 did not start (tools/install-deps.sh installs python3-yaml)");
        var output = python.StandardOutput.ReadToEndAsync();
        var error = python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync();
        return python.ExitCode == 0 ? JsonDocument.Parse(await output) : throw new InvalidDataException($"PyYAML could not read {path}: {(await error).Trim()}");
    }
}

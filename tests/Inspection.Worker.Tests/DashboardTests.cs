using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Worker.Tests;

/// <summary>
/// The Grafana dashboard and the alert rules against a real worker: every metric name they use is served by a
/// running worker with two cameras (or, for inspection_training_*, by a training run), its runtime metrics pass
/// promtool, and a real Prometheus run with deploy/prometheus's configuration evaluates every dashboard query and
/// alert against it without an error. One worker serves the whole class.
/// </summary>
[Collection("Worker processes")]
public sealed partial class DashboardTests(DashboardTests.RunningWorker worker) : IClassFixture<DashboardTests.RunningWorker>
{
    private const string TrainerPrefix = "inspection_training_";

    private static readonly string DashboardPath = Path.Combine(SharedData.RepositoryRoot, "deploy", "grafana", "dashboards", "inspection.json");

    [SkippableFact]
    public async Task The_runtime_metrics_pass_promtool_beside_the_inspection_series()
    {
        var exposition = await worker.ScrapeAsync();
        var (exitCode, output) = await Promtool.RunAsync(SharedData.RepositoryRoot, ["check", "metrics"], exposition);
        Assert.True(exitCode == 0, $"promtool check metrics: {output}");

        var families = MetricFamilies(exposition);
        foreach (var runtime in new[]
                 {
                     "process_cpu_seconds_total", "process_start_time_seconds", "process_working_set_bytes", "process_num_threads", "process_open_handles",
                     "dotnet_collection_count_total", "dotnet_total_memory_bytes", "dotnet_gc_heap_size_bytes", "dotnet_gc_pause_seconds_total",
                     "dotnet_gc_allocated_bytes_total", "dotnet_threadpool_threads", "dotnet_threadpool_queue_length", "dotnet_exceptions_total",
                     "dotnet_lock_contentions_total",
                 })
        {
            Assert.True(families.ContainsKey(runtime), $"{runtime} is missing from the worker's /metrics");
        }

        Assert.Matches(@"\ndotnet_collection_count_total\{generation=""0""\} [1-9]", exposition);
        Assert.Matches(@"\nprocess_num_threads [1-9]", exposition);
        Assert.Matches(@"\ndotnet_gc_heap_size_bytes [1-9]", exposition);
        Assert.Matches(@"\ninspection_evidence_quota_bytes 2147483648\n", exposition);
        Assert.Matches(@"\ninspection_mqtt_queue_limit_bytes [1-9]", exposition);
        Assert.Matches(@"\ninspection_volume_free_bytes\{folder=""evidence""\} [1-9]", exposition);
    }

    [SkippableFact]
    public async Task Every_metric_in_the_dashboard_and_the_alerts_exists_in_a_running_worker()
    {
        var families = MetricFamilies(await worker.ScrapeAsync());
        var queries = (await DashboardQueriesAsync()).Concat(await AlertQueriesAsync()).ToList();
        Assert.True(queries.Count > 60, $"only {queries.Count} queries found");

        var missing = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (where, query) in queries)
        {
            foreach (var name in PromQl.MetricNames(query).Where(n => !n.StartsWith(TrainerPrefix, StringComparison.Ordinal)))
            {
                used.Add(name);
                if (name != "up" && Family(name, families) is null) // up: Prometheus makes it for every target
                {
                    missing.Add($"{where} uses {name}, which the worker's /metrics does not have");
                }
            }
        }

        Assert.True(missing.Count == 0, string.Join("\n", missing));
        foreach (var family in new[] { "inspection_camera_state", "inspection_inference_seconds", "inspection_verdicts_total", "inspection_mqtt_queue_depth", "inspection_model_info", "process_cpu_seconds_total", "dotnet_collection_count_total" })
        {
            Assert.True(used.Any(n => Family(n, families) == family), $"nothing on the dashboard or in the alerts shows {family}");
        }
    }

    [Fact]
    public void The_tokenizer_finds_metric_names_and_nothing_else()
    {
        const string query = """
            histogram_quantile(0.99, sum by (camera, le) (rate(a_seconds_bucket{camera=~"$camera", job!="x y"}[$__rate_interval] offset 5m)))
            / on (job, instance) group_left (flag) max without (state) (b_total{s='by(c)'} == bool 1) or vector(0) unless c_info
            and label_replace(d_gauge, "dst", "$1", "src", "(.*)") * 1e6 - topk(3, e_total) + time() - Inf
            """;
        Assert.Equal(["a_seconds_bucket", "b_total", "c_info", "d_gauge", "e_total"], PromQl.MetricNames(query));
        Assert.Equal(["inspection_frames_read_total"], PromQl.MetricNames(VariableSelector("label_values(inspection_frames_read_total{instance=~\"$instance\"}, camera)")));
        Assert.Equal(["x_total"], PromQl.MetricNames("x_total{le=\"+Inf\"}[5m:1m]"));
    }

    [SkippableFact]
    public async Task A_real_prometheus_with_the_deploy_configuration_runs_every_dashboard_query_and_alert_without_an_error()
    {
        await worker.ScrapeAsync(); // the worker is there (or the test is skipped)
        using var folder = new TempFolder();
        var configuration = (await File.ReadAllTextAsync(Path.Combine(AlertRuleTests.PrometheusFolder, "prometheus.yml")))
            .Replace("worker:9400", $"127.0.0.1:{worker.Process.HttpPort}", StringComparison.Ordinal)
            .Replace("retrain:9402", $"127.0.0.1:{ServerProcess.FreePort()}", StringComparison.Ordinal) // no training now: a down target
            .Replace("scrape_interval: 5s", "scrape_interval: 1s", StringComparison.Ordinal)
            .Replace("evaluation_interval: 5s", "evaluation_interval: 1s", StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "prometheus.yml"), configuration);
        File.Copy(Path.Combine(AlertRuleTests.PrometheusFolder, "alerts.yml"), Path.Combine(folder.Path, "alerts.yml"));
        using var prometheus = ServerProcess.PrometheusWithConfiguration(folder.Path, Path.Combine(folder.Path, "prometheus.yml"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{prometheus.Port}"), Timeout = TimeSpan.FromSeconds(10) };

        // Three scrapes, so that rates have samples, and every rule evaluated once.
        await Waiting.WaitUntil(() => Query(http, "count_over_time(inspection_frames_read_total{camera=\"demo\"}[1m])") is (null, [var scrapes, ..]) && Value(scrapes) >= 3, "Prometheus to scrape the worker three times", TimeSpan.FromSeconds(60), () => string.Join("\n", prometheus.Output));
        await Waiting.WaitUntil(() => Rules(http).All(r => r.GetProperty("health").GetString() != "unknown"), "every alert rule to be evaluated", TimeSpan.FromSeconds(30));
        var unhealthy = Rules(http).Where(r => r.GetProperty("health").GetString() != "ok").Select(r => $"{r.GetProperty("name")}: {r.GetProperty("lastError")}").ToList();
        Assert.True(unhealthy.Count == 0, "alert rules that Prometheus could not evaluate:\n" + string.Join("\n", unhealthy));

        var failures = new List<string>();
        foreach (var (where, query) in await DashboardQueriesAsync())
        {
            var (error, _) = Query(http, WithGrafanaVariables(query));
            if (error is not null)
            {
                failures.Add($"{where}: {error}");
            }
        }

        Assert.True(failures.Count == 0, "dashboard queries Prometheus refused:\n" + string.Join("\n", failures));

        // The state timeline's arithmetic over the state series gives one row per camera, 1 = streaming.
        var states = (await DashboardQueriesAsync()).Single(q => q.Where.StartsWith("panel 'Camera state'", StringComparison.Ordinal)).Query;
        var rows = Query(http, WithGrafanaVariables(states)).Result;
        Assert.Equal(["demo", "second"], rows.Select(r => r.GetProperty("metric").GetProperty("camera").GetString()).Order(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.Equal(1, Value(r)));
    }

    [Fact]
    public async Task The_dashboard_is_a_current_grafana_model_on_the_provisioned_data_source()
    {
        using var datasources = await Yaml.ReadAsync(Path.Combine(SharedData.RepositoryRoot, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"));
        var datasource = datasources.RootElement.GetProperty("datasources")[0];
        Assert.Equal("http://prometheus:9090", datasource.GetProperty("url").GetString());
        var uid = datasource.GetProperty("uid").GetString();

        using var providers = await Yaml.ReadAsync(Path.Combine(SharedData.RepositoryRoot, "deploy", "grafana", "provisioning", "dashboards", "inspection.yml"));
        Assert.Equal("/var/lib/grafana/dashboards", providers.RootElement.GetProperty("providers")[0].GetProperty("options").GetProperty("path").GetString());

        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(DashboardPath));
        var root = dashboard.RootElement;
        Assert.True(root.GetProperty("schemaVersion").GetInt32() >= 39, "schemaVersion below 39");
        Assert.False(string.IsNullOrEmpty(root.GetProperty("uid").GetString()));
        var variables = root.GetProperty("templating").GetProperty("list").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.StartsWith("label_values(", variables["camera"].GetProperty("definition").GetString(), StringComparison.Ordinal);
        Assert.Equal(uid, variables["camera"].GetProperty("datasource").GetProperty("uid").GetString());

        var panels = root.GetProperty("panels").EnumerateArray().ToList();
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        var occupied = new HashSet<(int, int)>();
        foreach (var panel in panels)
        {
            var title = panel.GetProperty("title").GetString();
            var type = panel.GetProperty("type").GetString();
            Assert.True(type is "row" or "timeseries" or "stat" or "state-timeline" or "gauge" or "table" or "bargauge", $"panel '{title}' is a {type}, not a current Grafana panel");
            var grid = panel.GetProperty("gridPos");
            var (x, y, w, h) = (grid.GetProperty("x").GetInt32(), grid.GetProperty("y").GetInt32(), grid.GetProperty("w").GetInt32(), grid.GetProperty("h").GetInt32());
            Assert.True(x >= 0 && w > 0 && x + w <= 24 && h > 0, $"panel '{title}' does not fit the 24-column grid");
            for (var cx = x; cx < x + w; cx++)
            {
                for (var cy = y; cy < y + h; cy++)
                {
                    Assert.True(occupied.Add((cx, cy)), $"panel '{title}' overlaps another at {cx},{cy}");
                }
            }

            if (type != "row")
            {
                Assert.Equal(uid, panel.GetProperty("datasource").GetProperty("uid").GetString());
                Assert.All(panel.GetProperty("targets").EnumerateArray(), t => Assert.Equal(uid, t.GetProperty("datasource").GetProperty("uid").GetString()));
            }
        }

        foreach (var expected in new[] { "Frames per second", "Camera state", "Frame age p50 / p99", "Integrity flags", "Inference latency p50 / p99 (per batch)", "Yield (OK share)", "MQTT queue", "MQTT connection", "Serving model", "Shadow candidate agreement", "Golden-set heartbeat", "Training loss", "Retraining runs (range)", "CPU", "GC" })
        {
            Assert.Contains(panels, p => p.GetProperty("title").GetString() == expected);
        }
    }

    /// <summary>
    /// inspection_training_* on the dashboard and in the alerts are served by a training run: 'inspection train
    /// --metrics-url' serves /metrics while it runs. Scraped until every name was seen or the run ended.
    /// </summary>
    [SkippableFact]
    public async Task Every_training_metric_in_the_dashboard_and_the_alerts_exists_in_a_training_run()
    {
        var names = (await DashboardQueriesAsync()).Concat(await AlertQueriesAsync())
            .SelectMany(q => PromQl.MetricNames(q.Query)).Where(n => n.StartsWith(TrainerPrefix, StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        Assert.True(names.Count >= 10, $"only {names.Count} training metrics on the dashboard and in the alerts");

        using var folder = new TempFolder();
        var data = SharedData.Require("datasets/workpiece-crack/data.yaml");
        var port = ServerProcess.FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = folder.Path };
        foreach (var arg in new[] { CliRunner.CliPath, "train", "--data", data, "--epochs", "2", "--imgsz", "64", "--batch", "8", "--out", Path.Combine(folder.Path, "run"), "--metrics-url", $"http://127.0.0.1:{port}" })
        {
            start.ArgumentList.Add(arg);
        }

        using var train = Process.Start(start)!;
        var output = new StringBuilder();
        train.OutputDataReceived += (_, e) => output.AppendLine(e.Data);
        train.ErrorDataReceived += (_, e) => output.AppendLine(e.Data);
        train.BeginOutputReadLine();
        train.BeginErrorReadLine();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var watch = Stopwatch.StartNew();
        while (!train.HasExited && !names.All(seen.ContainsKey) && watch.Elapsed < TimeSpan.FromMinutes(5))
        {
            try
            {
                foreach (var (name, type) in MetricFamilies(await http.GetStringAsync($"http://127.0.0.1:{port}/metrics")))
                {
                    seen[name] = type;
                }
            }
            catch (HttpRequestException)
            {
                // not serving yet, or between its end and its exit
            }

            await Task.Delay(200);
        }

        if (!train.HasExited)
        {
            train.Kill(entireProcessTree: true);
        }

        await train.WaitForExitAsync();
        var missing = names.Where(n => Family(n, seen) is null).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"'inspection train --metrics-url' (exit {train.ExitCode}) never served {string.Join(", ", missing)}:\n{output}");
    }

    /// <summary>Every target of every panel and variable: (where, query).</summary>
    private static async Task<List<(string Where, string Query)>> DashboardQueriesAsync()
    {
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(DashboardPath));
        var queries = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => ($"panel '{p.GetProperty("title").GetString()}' query {t.GetProperty("refId").GetString()}", t.GetProperty("expr").GetString()!)))
            .ToList();
        queries.AddRange(dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Select(v => ($"variable '{v.GetProperty("name").GetString()}'", VariableSelector(v.GetProperty("definition").GetString()!))));
        return queries;
    }

    /// <summary>The series selector of a Grafana variable's label_values(selector, label): PromQL that Prometheus can run.</summary>
    private static string VariableSelector(string definition) => LabelValues().Match(definition) is { Success: true } call ? call.Groups[1].Value : definition;

    private static async Task<List<(string Where, string Query)>> AlertQueriesAsync()
    {
        using var rules = await Yaml.ReadAsync(Path.Combine(AlertRuleTests.PrometheusFolder, "alerts.yml"));
        return [.. rules.RootElement.GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => ($"alert {r.GetProperty("alert").GetString()}", r.GetProperty("expr").GetString()!))];
    }

    /// <summary>Family name to type, from the # TYPE lines (prometheus-net writes them for a family with no series yet too).</summary>
    private static Dictionary<string, string> MetricFamilies(string exposition) =>
        TypeLine().Matches(exposition).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);

    /// <summary>The family a series name belongs to: itself, or a histogram's for its _bucket, _sum and _count.</summary>
    private static string? Family(string name, IReadOnlyDictionary<string, string> families)
    {
        if (families.ContainsKey(name))
        {
            return name;
        }

        var suffix = new[] { "_bucket", "_sum", "_count" }.FirstOrDefault(s => name.EndsWith(s, StringComparison.Ordinal));
        var family = suffix is null ? null : name[..^suffix.Length];
        return family is not null && families.TryGetValue(family, out var type) && type is "histogram" or "summary" ? family : null;
    }

    /// <summary>Grafana's variables as "All" leaves them, so that Prometheus can run the query.</summary>
    private static string WithGrafanaVariables(string query) => query
        .Replace("$__rate_interval", "1m", StringComparison.Ordinal).Replace("$__range", "5m", StringComparison.Ordinal)
        .Replace("$instance", ".*", StringComparison.Ordinal).Replace("$camera", ".*", StringComparison.Ordinal);

    private static (string? Error, List<JsonElement> Result) Query(HttpClient http, string query)
    {
        using var response = http.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(query)).GetAwaiter().GetResult();
        var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        if (!text.StartsWith('{'))
        {
            return ($"HTTP {(int)response.StatusCode}: {text.Trim()}", []); // 503 until Prometheus has started
        }

        var body = JsonDocument.Parse(text).RootElement;
        if (body.GetProperty("status").GetString() != "success")
        {
            return ($"{body.GetProperty("errorType")}: {body.GetProperty("error")}", []);
        }

        var data = body.GetProperty("data");
        return (null, data.GetProperty("resultType").GetString() == "vector" ? [.. data.GetProperty("result").EnumerateArray()] : []);
    }

    private static double Value(JsonElement sample) => double.Parse(sample.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);

    private static List<JsonElement> Rules(HttpClient http) =>
        [.. JsonDocument.Parse(http.GetStringAsync("/api/v1/rules").GetAwaiter().GetResult()).RootElement.GetProperty("data").GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray())];

    [GeneratedRegex(@"^label_values\((.+),\s*\w+\)$")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    /// <summary>
    /// A worker with two continuous cameras on folders of real images (the demo images and the shared workpiece-crack
    /// test images), scraped once both have been inspected.
    /// </summary>
    public sealed class RunningWorker : IAsyncLifetime
    {
        private readonly TempFolder _folder = new();
        private Exception? _unavailable;

        public WorkerProcess Process { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            string second;
            try
            {
                second = SharedData.Require("datasets/workpiece-crack/test/images");
            }
            catch (Exception e) when (e is SkipException or FileNotFoundException)
            {
                _unavailable = e; // each test rethrows it: a skip here, a failure in CI
                return;
            }

            Process = WorkerProcess.Start(_folder.Path, new Dictionary<string, string>
            {
                ["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
                ["Inspection:Cameras:0:Id"] = "demo",
                ["Inspection:Cameras:0:Uri"] = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/demo"),
                ["Inspection:Cameras:0:Loop"] = "true",
                ["Inspection:Cameras:0:FolderFps"] = "10",
                ["Inspection:Cameras:1:Id"] = "second",
                ["Inspection:Cameras:1:Uri"] = second,
                ["Inspection:Cameras:1:Loop"] = "true",
                ["Inspection:Cameras:1:FolderFps"] = "10",
            });
            await Process.WaitForLineAsync("Inspecting demo", TimeSpan.FromSeconds(60));
            await Waiting.WaitUntil(
                () => Inspected("demo") > 3 && Inspected("second") > 3, "both cameras to be inspected", TimeSpan.FromSeconds(60), () => string.Join("\n", Process.Lines.TakeLast(20)));
        }

        public async Task<string> ScrapeAsync()
        {
            if (_unavailable is not null)
            {
                throw _unavailable;
            }

            return await Process.GetAsync("/metrics");
        }

        public Task DisposeAsync()
        {
            if (Process is not null)
            {
                PipelineTests.StopCleanly(Process);
                Process.Dispose();
            }

            _folder.Dispose();
            return Task.CompletedTask;
        }

        private double Inspected(string camera)
        {
            try
            {
                return PipelineTests.Metric(Process.GetAsync("/metrics").GetAwaiter().GetResult(), $"inspection_frames_inspected_total{{camera=\"{camera}\"}}");
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException)
            {
                return 0;
            }
        }
    }
}

/// <summary>
/// The metric names a PromQL expression reads. It skips string literals, label matchers in braces, ranges and
/// subqueries in brackets, numbers, durations after offset, keywords (by, without, on, ignoring, group_left,
/// group_right, bool, and, or, unless, offset), the label lists after grouping keywords, aggregation operators
/// (sum by (...) (...)), and function names (an identifier before an opening parenthesis).
/// </summary>
public static class PromQl
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal) { "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2" };
    private static readonly HashSet<string> Aggregations = new(StringComparer.Ordinal) { "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio" };
    private static readonly HashSet<string> Grouping = new(StringComparer.Ordinal) { "by", "without", "on", "ignoring", "group_left", "group_right" };

    public static List<string> MetricNames(string query)
    {
        var names = new List<string>();
        var i = 0;
        while (i < query.Length)
        {
            var c = query[i];
            if (c is '"' or '\'' or '`')
            {
                i = SkipString(query, i);
            }
            else if (c is '{' or '[')
            {
                i = SkipBracket(query, i, c == '{' ? '}' : ']');
            }
            else if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < query.Length && char.IsAsciiDigit(query[i + 1])))
            {
                while (i < query.Length && (char.IsAsciiLetterOrDigit(query[i]) || query[i] is '.' || (query[i] is '+' or '-' && query[i - 1] is 'e' or 'E')))
                {
                    i++; // 0.99, 1e6, 0x1F
                }
            }
            else if (c == '$')
            {
                i++;
                while (i < query.Length && (char.IsAsciiLetterOrDigit(query[i]) || query[i] == '_'))
                {
                    i++; // a Grafana variable
                }
            }
            else if (char.IsAsciiLetter(c) || c is '_' or ':')
            {
                var start = i;
                while (i < query.Length && (char.IsAsciiLetterOrDigit(query[i]) || query[i] is '_' or ':'))
                {
                    i++;
                }

                var word = query[start..i];
                var next = NextNonSpace(query, i);
                if (Grouping.Contains(word.ToLowerInvariant()))
                {
                    i = next < query.Length && query[next] == '(' ? SkipBracket(query, next, ')') : i; // its label list
                }
                else if (word.Equals("offset", StringComparison.OrdinalIgnoreCase))
                {
                    i = SkipWord(query, next); // its duration
                }
                else if (!Keywords.Contains(word.ToLowerInvariant()) && !Aggregations.Contains(word.ToLowerInvariant()) && (next >= query.Length || query[next] != '('))
                {
                    names.Add(word);
                }
            }
            else
            {
                i++;
            }
        }

        return names;
    }

    private static int NextNonSpace(string query, int i)
    {
        while (i < query.Length && char.IsWhiteSpace(query[i]))
        {
            i++;
        }

        return i;
    }

    private static int SkipWord(string query, int i)
    {
        while (i < query.Length && (char.IsAsciiLetterOrDigit(query[i]) || query[i] is '_' or '-'))
        {
            i++;
        }

        return i;
    }

    private static int SkipString(string query, int i)
    {
        var quote = query[i++];
        while (i < query.Length && query[i] != quote)
        {
            i += query[i] == '\\' && quote != '`' ? 2 : 1;
        }

        return i + 1;
    }

    private static int SkipBracket(string query, int i, char close)
    {
        i++;
        while (i < query.Length && query[i] != close)
        {
            i = query[i] is '"' or '\'' or '`' ? SkipString(query, i) : i + 1;
        }

        return i + 1;
    }
}

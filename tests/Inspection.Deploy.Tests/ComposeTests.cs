using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Deploy.Tests;

/// <summary>
/// deploy/compose/compose.yaml against the Compose Specification's JSON Schema, and what an operator relies on in
/// each profile. (`docker compose config` needs a Docker engine's CLI plugin, absent here: the schema is the check.)
/// </summary>
public sealed partial class ComposeTests
{
    private static readonly string Folder = Path.Combine(DeployTools.Deploy, "compose");
    private static readonly string ComposeFile = Path.Combine(Folder, "compose.yaml");

    public static TheoryData<string> Profiles => ["cpu", "gpu"];

    [Fact]
    public async Task The_compose_file_validates_against_the_compose_specification()
    {
        var validation = await DeployTools.NodeAsync("validate-compose.js", ComposeFile);
        Assert.True(validation.ExitCode == 0, validation.Output);
    }

    public static TheoryData<string, string, string> Typos => new()
    {
        // text, its replacement, a line the validator must print
        { "  read_only: true\n  tmpfs:\n    - /tmp\n  environment:\n    INSPECTION_CONFIG", "  read_onyl: true\n  tmpfs:\n    - /tmp\n  environment:\n    INSPECTION_CONFIG", "/services/worker-cpu: must NOT have additional properties \"read_onyl\"" },
        { "      interval: 10s\n      timeout: 3s", "      interval: 10 s\n      timeout: 3s", "/services/mosquitto/healthcheck/interval: must match format \"duration\"" },
        { "            capabilities: [gpu]", "            capabilites: [gpu]", "/services/retrain/deploy/resources/reservations/devices/0: must NOT have additional properties \"capabilites\"" },
        { "      - 127.0.0.1:${PROMETHEUS_PORT:-9090}:9090", "      - 127.0.0.1:${PROMETHEUS_PORT:-9090}:9090x", "/services/prometheus/ports/0: must match format \"ports\"" },
    };

    [Theory]
    [MemberData(nameof(Typos))]
    public async Task A_mistake_in_the_compose_file_fails_validation_naming_its_path(string text, string replacement, string expected)
    {
        using var copy = new TempFolder();
        var original = await File.ReadAllTextAsync(ComposeFile);
        Assert.Contains(text, original, StringComparison.Ordinal);
        var broken = copy.File("compose.yaml");
        await File.WriteAllTextAsync(broken, original.Replace(text, replacement, StringComparison.Ordinal));

        var validation = await DeployTools.NodeAsync("validate-compose.js", broken);
        Assert.Equal(1, validation.ExitCode);
        Assert.Contains($"{broken}: {expected}", validation.Stderr.Split('\n'));
    }

    [Fact]
    public async Task Every_service_runs_as_a_user_on_a_read_only_root_restarts_and_publishes_on_loopback_only()
    {
        foreach (var (name, service) in (await ReadAsync()).Entries("services"))
        {
            Assert.Matches("^[1-9][0-9]*(:[0-9]+)?$", service.Text("user") ?? $"{name}: no user");
            Assert.True(service.Text("read_only") == "true", $"{name}: read_only");
            Assert.Equal("unless-stopped", service.Text("restart"));
            Assert.All(service.Items("ports"), p => Assert.StartsWith("127.0.0.1:", p.ToString(), StringComparison.Ordinal));
            if (!name.StartsWith("retrain", StringComparison.Ordinal))
            {
                Assert.NotEmpty(service.Items("healthcheck", "test"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public async Task Each_profile_runs_one_worker_and_one_retraining_sharing_the_registry_and_evidence_volumes(string profile)
    {
        var compose = await ReadAsync();
        var worker = Active(compose, profile).Single(s => s.Service.At("environment", "INSPECTION_CONFIG") is not null);
        var retrain = Active(compose, profile).Single(s => s.Service.Items("command").FirstOrDefault()?.ToString() == "retrain");
        var options = Read(compose, worker.Service).Options;
        var arguments = retrain.Service.Items("command").Select(a => Defaults(a.ToString())).ToList();
        Assert.Empty(await RetrainCommandLine.UnknownOptionsAsync(arguments));

        var registry = NamedVolume(compose, worker.Service, options.Model.Registry!);
        Assert.Equal(registry, NamedVolume(compose, retrain.Service, RetrainCommandLine.Value(arguments, "--registry")!));
        var evidence = NamedVolume(compose, worker.Service, options.Evidence.Directory);
        Assert.Equal(evidence, NamedVolume(compose, retrain.Service, RetrainCommandLine.Value(arguments, "--evidence")!));
        Assert.NotEqual(registry, evidence);
        Assert.Equal(options.Model.Name, RetrainCommandLine.Value(arguments, "--name"));

        // Never lose a result: the queue is on a named volume, not in the container.
        NamedVolume(compose, worker.Service, options.Mqtt.Queue.Directory);

        // GPUs only in the gpu profile; Prometheus finds both under the names its scrape configuration uses.
        foreach (var (name, service) in new[] { worker, retrain })
        {
            var devices = service.Items("deploy", "resources", "reservations", "devices").ToList();
            Assert.Equal(profile == "gpu", devices.Any(d => d.Text("driver") == "nvidia" && d.Items("capabilities").Any(c => c.ToString() == "gpu")));
            Assert.Contains(service == worker.Service ? "worker" : "retrain", service.Items("networks", "default", "aliases").Select(a => a.ToString()).Append(name));
        }
    }

    [Fact]
    public async Task The_worker_accepts_the_configuration_and_listens_where_its_port_is_published()
    {
        var compose = await ReadAsync();
        foreach (var (name, service) in compose.Entries("services").Where(s => s.Value.At("environment", "INSPECTION_CONFIG") is not null))
        {
            var reading = Read(compose, service!);
            Assert.True(reading.Problems.Count == 0, $"{name}: the worker would refuse its configuration:\n{string.Join("\n", reading.Problems)}");
            var url = new Uri(reading.Options.Http.Url);
            Assert.Equal("0.0.0.0", url.Host); // inside its container; the host publishes it on 127.0.0.1
            Assert.Contains(service!.Items("ports"), p => Defaults(p.ToString()).EndsWith($":{url.Port}", StringComparison.Ordinal));
            Assert.Equal("mosquitto", reading.Options.Mqtt.Host);

            // The password is a compose secret, and the broker's ACL lets the worker's user use the worker's topics.
            Assert.Contains(service.Items("secrets"), s => $"/run/secrets/{s}" == reading.Options.Mqtt.PasswordFile);
            var mqtt = reading.Options.Mqtt;
            var acl = BrokerAcl(compose);
            var section = Regex.Match(acl, $"^user {Regex.Escape(mqtt.Username!)}\n(?<rules>(topic .*\n)+)", RegexOptions.Multiline);
            Assert.True(section.Success, $"the broker's ACL has no section for the worker's user {mqtt.Username}");
            Assert.Contains($"topic readwrite {mqtt.TopicPrefix}/{mqtt.Site}/{mqtt.Line}/#", section.Groups["rules"].Value, StringComparison.Ordinal);
        }
    }

    private static async Task<JsonNode> ReadAsync() => (await DeployTools.ReadYamlAsync(ComposeFile)).Single()!;

    private static IEnumerable<(string Name, JsonNode Service)> Active(JsonNode compose, string profile) =>
        compose.Entries("services")
            .Where(s => !s.Value.Items("profiles").Any() || s.Value.Items("profiles").Any(p => p.ToString() == profile))
            .Select(s => (s.Key, s.Value!));

    /// <summary>The worker's configuration file (a bind mount of the compose folder) and environment, read by the worker's reader.</summary>
    private static WorkerSettings.Reading Read(JsonNode compose, JsonNode service)
    {
        var environment = service.Entries("environment").ToDictionary(e => e.Key, e => Defaults(e.Value!.ToString()));
        var mounts = Mounts(service);
        var file = environment["INSPECTION_CONFIG"];
        var source = mounts.Single(m => m.Target == file).Source;
        var json = File.ReadAllText(Path.GetFullPath(source, Folder));
        bool ProvidedAtRunTime(string path) =>
            mounts.Any(m => IsNamedVolume(compose, m.Source) && WorkerSettings.IsUnder(path, m.Target))
            || service.Items("secrets").Any(s => path == $"/run/secrets/{s}");
        return WorkerSettings.Read(json, environment, ProvidedAtRunTime);
    }

    /// <summary>The named volume (declared at the top level) mounted where <paramref name="path"/> is.</summary>
    private static string NamedVolume(JsonNode compose, JsonNode service, string path)
    {
        var mount = Mounts(service).Where(m => WorkerSettings.IsUnder(path, m.Target)).MaxBy(m => m.Target.Length);
        Assert.True(mount is not null && IsNamedVolume(compose, mount.Source), $"{path} is on no named volume");
        return mount!.Source;
    }

    /// <summary>Declared under the top-level volumes (most with no settings: `registry:` is null).</summary>
    private static bool IsNamedVolume(JsonNode compose, string source) => compose.At("volumes") is JsonObject volumes && volumes.ContainsKey(source);

    private sealed record Mount(string Source, string Target);

    private static List<Mount> Mounts(JsonNode service) =>
        [.. service.Items("volumes").Select(v => Defaults(v.ToString()).Split(':')).Select(p => new Mount(p[0], p[1]))];

    private static string BrokerAcl(JsonNode compose)
    {
        var mosquitto = compose.At("services", "mosquitto")!;
        var acl = Mounts(mosquitto).Single(m => m.Target == "/mosquitto/config/acl");
        return File.ReadAllText(Path.GetFullPath(acl.Source, Folder));
    }

    /// <summary>${VAR:-default} as its default, as docker compose reads it without a .env file.</summary>
    private static string Defaults(string value) => Variable().Replace(value, m => m.Groups["default"].Value);

    [GeneratedRegex(@"\$\{[A-Za-z_][A-Za-z0-9_]*(:?-(?<default>[^}]*))?\}")]
    private static partial Regex Variable();
}

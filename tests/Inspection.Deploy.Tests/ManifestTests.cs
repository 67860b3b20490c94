using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Deploy.Tests;

/// <summary>
/// deploy/k8s as a cluster would get it: each overlay rendered by the real `kubectl kustomize`, validated against
/// the Kubernetes schemas (strict about unknown fields), and checked for what an operator relies on.
/// </summary>
public sealed partial class ManifestTests(RenderedOverlays rendered) : IClassFixture<RenderedOverlays>
{
    public static TheoryData<string> Overlays => [.. RenderedOverlays.Names];

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_overlay_renders_and_validates_strictly(string overlay)
    {
        var o = rendered.ByName[overlay];
        Assert.True(o.Validation.ExitCode == 0, o.Validation.Output);
        var kinds = o.Objects.Select(x => x.Text("kind")).ToHashSet();
        Assert.Superset(new HashSet<string?> { "StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap", "Secret", "PersistentVolumeClaim", "CronJob", "PodMonitor" }, kinds);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_container_runs_as_a_user_with_a_read_only_root_and_no_capabilities(string overlay)
    {
        foreach (var (owner, pod) in rendered.ByName[overlay].Pods())
        {
            var podSecurity = pod.At("spec", "securityContext");
            foreach (var container in pod.Items("spec", "containers").Concat(pod.Items("spec", "initContainers")))
            {
                var where = $"{owner.Text("kind")}/{owner.Text("metadata", "name")} container {container.Text("name")}";
                var security = container.At("securityContext");
                Assert.True((security.Text("runAsNonRoot") ?? podSecurity.Text("runAsNonRoot")) == "true", $"{where}: runAsNonRoot");
                Assert.NotEqual("0", security.Text("runAsUser") ?? podSecurity.Text("runAsUser") ?? "0");
                Assert.True(security.Text("readOnlyRootFilesystem") == "true", $"{where}: readOnlyRootFilesystem");
                Assert.True(security.Text("allowPrivilegeEscalation") == "false", $"{where}: allowPrivilegeEscalation");
                Assert.Contains("ALL", security.Items("capabilities", "drop").Select(d => d.ToString()));
                Assert.Equal("RuntimeDefault", security.Text("seccompProfile", "type") ?? podSecurity.Text("seccompProfile", "type"));
                Assert.NotNull(container.At("resources", "requests", "memory"));
                Assert.NotNull(container.At("resources", "limits", "memory"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_worker_accepts_the_configuration_each_line_gives_it_and_its_probes_ask_where_it_listens(string overlay)
    {
        var o = rendered.ByName[overlay];
        Assert.NotEmpty(o.OfKind("StatefulSet"));
        foreach (var line in o.OfKind("StatefulSet"))
        {
            var worker = Worker(o, line);
            var reading = worker.Read();
            Assert.True(reading.Problems.Count == 0, $"{line.Text("metadata", "name")}: the worker would refuse its configuration:\n{string.Join("\n", reading.Problems)}");

            var url = new Uri(reading.Options.Http.Url);
            Assert.Equal("0.0.0.0", url.Host); // kubelet's probes and Prometheus come from outside the pod
            foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
            {
                var get = worker.Container.At(probe, "httpGet");
                Assert.True(get is not null, $"{line.Text("metadata", "name")} has no {probe}");
                Assert.Equal(url.Port, worker.Port(get.Text("port")!));
                Assert.Equal(probe == "readinessProbe" ? "/health/ready" : "/health/live", get.Text("path"));
            }

            // Liveness must not kill a worker that is still loading its model: the startup probe allows minutes.
            var startup = worker.Container.At("startupProbe")!;
            Assert.True(int.Parse(startup.Text("periodSeconds")!) * int.Parse(startup.Text("failureThreshold")!) >= 300);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_mqtt_password_comes_from_the_secret_key_the_worker_reads(string overlay)
    {
        var o = rendered.ByName[overlay];
        foreach (var line in o.OfKind("StatefulSet"))
        {
            var worker = Worker(o, line);
            var passwordFile = worker.Read().Options.Mqtt.PasswordFile;
            Assert.False(string.IsNullOrEmpty(passwordFile), "the worker is given no Inspection:Mqtt:PasswordFile");
            var (mount, volume) = worker.MountOf(passwordFile!);
            var secret = o.Named("Secret", volume.Text("secret", "secretName") ?? throw new Xunit.Sdk.XunitException($"{passwordFile} is not on a Secret volume"));
            Assert.NotNull(secret.At("data", Path.GetRelativePath(mount, passwordFile!)));
            Assert.DoesNotContain(worker.Container.Items("env"), e => e.Text("name") == "Inspection__Mqtt__Password" && e.At("value") is not null);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Each_line_is_one_worker_with_its_own_queue_volume_service_and_disruption_budget(string overlay)
    {
        var o = rendered.ByName[overlay];
        foreach (var line in o.OfKind("StatefulSet"))
        {
            var name = line.Text("metadata", "name");
            var labels = line.At("spec", "template", "metadata", "labels");
            Assert.Equal("1", line.Text("spec", "replicas"));
            Assert.True(line.At("spec", "selector", "matchLabels").Selects(labels), $"{name}: its selector does not select its pods");

            var service = o.Named("Service", line.Text("spec", "serviceName")!);
            Assert.True(service.At("spec", "selector").Selects(labels), $"{name}: its Service {service.Text("metadata", "name")} selects other pods");
            var budgets = o.OfKind("PodDisruptionBudget").Where(b => b.At("spec", "selector", "matchLabels").Selects(labels)).ToList();
            Assert.Single(budgets);
            Assert.Equal("1", budgets[0].Text("spec", "minAvailable"));
            foreach (var other in o.OfKind("StatefulSet").Where(s => s != line))
            {
                Assert.False(service.At("spec", "selector").Selects(other.At("spec", "template", "metadata", "labels")), $"{name}'s Service also selects {other.Text("metadata", "name")}");
                Assert.NotEqual(labels.Text("app.kubernetes.io/instance"), other.Text("spec", "template", "metadata", "labels", "app.kubernetes.io/instance"));
            }

            // Never lose a result: the queue lives on the pod's own claim, which outlives the pod.
            var worker = Worker(o, line);
            var (_, queueVolume) = worker.MountOf(worker.Read().Options.Mqtt.Queue.Directory);
            Assert.Contains(queueVolume, line.Items("spec", "volumeClaimTemplates"));
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Workers_and_retraining_share_the_registry_and_evidence_on_one_read_write_many_claim(string overlay)
    {
        var o = rendered.ByName[overlay];
        var retrain = o.OfKind("CronJob").Single();
        var job = Pod.Of(o, retrain, retrain.At("spec", "jobTemplate", "spec", "template")!);
        var arguments = job.Container.Items("args").Select(a => a.ToString()).ToList();
        Assert.Empty(await RetrainCommandLine.UnknownOptionsAsync(arguments));

        var evidenceFolders = new List<string>();
        foreach (var line in o.OfKind("StatefulSet"))
        {
            var worker = Worker(o, line);
            var options = worker.Read().Options;
            var claim = worker.MountOf(options.Model.Registry!).Volume.Text("persistentVolumeClaim", "claimName")!;
            Assert.Contains("ReadWriteMany", o.Named("PersistentVolumeClaim", claim).Items("spec", "accessModes").Select(m => m.ToString()));
            Assert.Equal(claim, worker.MountOf(options.Evidence.Directory).Volume.Text("persistentVolumeClaim", "claimName"));

            // The job sees the worker's files at the same paths.
            Assert.Equal(claim, job.MountOf(options.Model.Registry!).Volume.Text("persistentVolumeClaim", "claimName"));
            Assert.Equal(Path.TrimEndingDirectorySeparator(options.Model.Registry!), RetrainCommandLine.Value(arguments, "--registry"));
            Assert.Equal(options.Model.Name, RetrainCommandLine.Value(arguments, "--name"));
            evidenceFolders.Add(options.Evidence.Directory);
        }

        Assert.Equal(evidenceFolders.Count, evidenceFolders.Distinct().Count()); // each line its own evidence
        Assert.Contains(RetrainCommandLine.Value(arguments, "--evidence"), evidenceFolders);
    }

    [Fact]
    public void Retraining_never_overlaps_itself_and_gives_up_on_a_stale_tick()
    {
        foreach (var overlay in RenderedOverlays.Names)
        {
            var spec = rendered.ByName[overlay].OfKind("CronJob").Single().At("spec");
            Assert.Equal("Forbid", spec.Text("concurrencyPolicy"));
            Assert.True(int.Parse(spec.Text("startingDeadlineSeconds")!) > 0);
            Assert.InRange(int.Parse(spec.Text("jobTemplate", "spec", "backoffLimit")!), 0, 3);
            Assert.Equal("Never", spec.Text("jobTemplate", "spec", "template", "spec", "restartPolicy"));
        }
    }

    [Fact]
    public void Only_the_gpu_overlay_asks_for_gpus_for_every_worker_and_the_retraining()
    {
        foreach (var (_, pod) in rendered.ByName["gpu"].Pods())
        {
            Assert.Equal("1", pod.Items("spec", "containers").Single().Text("resources", "limits", "nvidia.com/gpu"));
            Assert.Equal("true", pod.Text("spec", "nodeSelector", "nvidia.com/gpu.present"));
            Assert.Contains(pod.Items("spec", "tolerations"), t => t.Text("key") == "nvidia.com/gpu");
        }

        Assert.Equal(3, rendered.ByName["gpu"].Pods().Count()); // two lines and the retraining
        var cpu = File.ReadAllText(rendered.ByName["cpu"].File);
        Assert.DoesNotContain("nvidia.com/gpu", cpu, StringComparison.Ordinal);
        Assert.All(rendered.ByName["cpu"].Pods(), p => Assert.EndsWith(":cpu", p.Pod.Items("spec", "containers").Single().Text("image"), StringComparison.Ordinal));
        Assert.All(rendered.ByName["gpu"].Pods(), p => Assert.EndsWith(":gpu", p.Pod.Items("spec", "containers").Single().Text("image"), StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Prometheus_scrapes_every_inspection_pod_on_its_metrics_port(string overlay)
    {
        var o = rendered.ByName[overlay];
        var monitor = o.OfKind("PodMonitor").Single();
        var port = monitor.Items("spec", "podMetricsEndpoints").Single().Text("port");
        foreach (var (owner, pod) in o.Pods())
        {
            Assert.True(monitor.At("spec", "selector", "matchLabels").Selects(pod.At("metadata", "labels")), $"the PodMonitor does not select {owner.Text("metadata", "name")}'s pods");
            Assert.Contains(pod.Items("spec", "containers").Single().Items("ports"), p => p.Text("name") == port);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task The_operator_gets_the_alert_rules_prometheus_is_tested_with_and_the_job_names_they_use(string overlay)
    {
        var o = rendered.ByName[overlay];
        var alerts = (await DeployTools.ReadYamlAsync(Path.Combine(DeployTools.Deploy, "prometheus", "alerts.yml"))).Single();
        var rule = o.OfKind("PrometheusRule").Single();
        Assert.True(JsonNode.DeepEquals(alerts.At("groups"), rule.At("spec", "groups")), "deploy/k8s/base/site/prometheus-rule.yaml's groups differ from deploy/prometheus/alerts.yml's: copy them over.");

        // The PodMonitor names each pod's job by its name label: the workers' must be the job the rules ask for.
        var jobLabel = o.OfKind("PodMonitor").Single().Text("spec", "jobLabel")!;
        Assert.All(o.Pods().Where(p => p.Owner.Text("kind") == "StatefulSet"), p => Assert.Equal("inspection-worker", p.Pod.Text("metadata", "labels", jobLabel)));
        Assert.Contains(rule.Items("spec", "groups").SelectMany(g => g.Items("rules")), r => r.Text("expr")!.Contains("job=\"inspection-worker\"", StringComparison.Ordinal));
    }

    public static TheoryData<string, string, string, string> Typos => new()
    {
        // file under deploy/k8s, text, its replacement, what the validator must name
        { "base/line/worker-statefulset.yaml", "  replicas: 1", "  replcas: 1", "StatefulSet/inspection-worker: /spec/replcas: unknown field \"replcas\"" },
        { "base/line/worker-statefulset.yaml", "              port: metrics\n            periodSeconds: 10", "              port: 9400.5\n            periodSeconds: 10", "StatefulSet/inspection-worker: /spec/template/spec/containers/0/livenessProbe/httpGet/port: must be integer" },
        { "base/line/worker-statefulset.yaml", "          image: ghcr.io/inspection/worker", "          image: ghcr.io/inspection/worker\n          imagePullPolicyy: Always", "StatefulSet/inspection-worker: /spec/template/spec/containers/0/imagePullPolicyy: unknown field \"imagePullPolicyy\"" },
        { "base/site/retrain-cronjob.yaml", "concurrencyPolicy: Forbid", "concurrencyPolicy: Forbidden", "CronJob/inspection-retrain: /spec/concurrencyPolicy: must be equal to one of the allowed values (Allow, Forbid, Replace)" },
        { "base/site/podmonitor.yaml", "      relabelings:", "      relabellings:", "PodMonitor/inspection: /spec/podMetricsEndpoints/0: must NOT have additional properties \"relabellings\"" },
    };

    [Theory]
    [MemberData(nameof(Typos))]
    public async Task A_mistake_in_a_manifest_fails_validation_naming_the_object_and_path(string file, string text, string replacement, string expected)
    {
        using var copy = DeployTools.CopyOfDeploy();
        var path = Path.Combine(copy.Path, "deploy", "k8s", file);
        var original = await File.ReadAllTextAsync(path);
        Assert.Contains(text, original, StringComparison.Ordinal);
        await File.WriteAllTextAsync(path, original.Replace(text, replacement, StringComparison.Ordinal));

        var rendered = copy.File("cpu.yaml");
        await File.WriteAllTextAsync(rendered, await DeployTools.RenderAsync(Path.Combine(copy.Path, "deploy", "k8s", "overlays", "cpu")));
        var validation = await DeployTools.NodeAsync("validate-k8s.js", rendered);
        Assert.Equal(1, validation.ExitCode);
        Assert.Contains($"{rendered}: {expected}", validation.Stderr.Split('\n'));
    }

    private static Pod Worker(RenderedOverlays.Overlay overlay, JsonNode statefulSet) =>
        Pod.Of(overlay, statefulSet, statefulSet.At("spec", "template")!);

    /// <summary>A pod's single container, its mounts and volumes, and its environment as the kubelet would give it.</summary>
    private sealed partial record Pod(RenderedOverlays.Overlay Overlay, JsonNode Owner, JsonNode Template, JsonNode Container)
    {
        public static Pod Of(RenderedOverlays.Overlay overlay, JsonNode owner, JsonNode template) =>
            new(overlay, owner, template, template.Items("spec", "containers").Single());

        /// <summary>The mount holding <paramref name="path"/> (the deepest), and its volume: a pod volume or a volumeClaimTemplate.</summary>
        public (string MountPath, JsonNode Volume) MountOf(string path)
        {
            var mount = Container.Items("volumeMounts").Where(m => WorkerSettings.IsUnder(path, m.Text("mountPath")!)).MaxBy(m => m.Text("mountPath")!.Length)
                ?? throw new Xunit.Sdk.XunitException($"{Owner.Text("metadata", "name")}: {path} is on no mounted volume (the root file system is read-only).");
            var name = mount.Text("name");
            var volume = Template.Items("spec", "volumes").SingleOrDefault(v => v.Text("name") == name)
                ?? Owner.Items("spec", "volumeClaimTemplates").Single(t => t.Text("metadata", "name") == name);
            return (mount.Text("mountPath")!, volume);
        }

        public int Port(string port) =>
            int.TryParse(port, out var number) ? number : int.Parse(Container.Items("ports").Single(p => p.Text("name") == port).Text("containerPort")!);

        /// <summary>The worker's configuration: the ConfigMap key INSPECTION_CONFIG names through its mount, and the environment.</summary>
        public WorkerSettings.Reading Read()
        {
            var environment = Environment();
            var file = environment.GetValueOrDefault("INSPECTION_CONFIG") ?? throw new Xunit.Sdk.XunitException("the worker is given no INSPECTION_CONFIG");
            var (mount, volume) = MountOf(file);
            var configMap = Overlay.Named("ConfigMap", volume.Text("configMap", "name")!);
            var json = configMap.Text("data", Path.GetRelativePath(mount, file)) ?? throw new Xunit.Sdk.XunitException($"{file}: the ConfigMap has no such key");
            return WorkerSettings.Read(json, environment, ProvidedAtRunTime);
        }

        /// <summary>On a claim (the registry is seeded there, folders are made by the worker), or a key of a mounted Secret.</summary>
        private bool ProvidedAtRunTime(string path)
        {
            var (mount, volume) = MountOf(path);
            return volume.At("persistentVolumeClaim") is not null || volume.At("spec", "accessModes") is not null
                || (volume.Text("secret", "secretName") is { } secret && Overlay.Named("Secret", secret).At("data", Path.GetRelativePath(mount, path)) is not null);
        }

        private Dictionary<string, string> Environment()
        {
            var environment = new Dictionary<string, string>();
            var labels = Template.At("metadata", "labels");
            foreach (var variable in Container.Items("env"))
            {
                var value = variable.Text("value") ?? variable.Text("valueFrom", "fieldRef", "fieldPath") switch
                {
                    "metadata.name" => $"{Owner.Text("metadata", "name")}-0",
                    { } field when LabelField().Match(field) is { Success: true } label => labels.Text(label.Groups[1].Value)
                        ?? throw new Xunit.Sdk.XunitException($"{field}: the pod has no such label"),
                    var other => throw new Xunit.Sdk.XunitException($"{variable.Text("name")}: this test does not resolve {other ?? "its source"}"),
                };
                environment[variable.Text("name")!] = Reference().Replace(value, m => environment.GetValueOrDefault(m.Groups[1].Value, m.Value));
            }

            return environment;
        }

        [GeneratedRegex(@"^metadata\.labels\['([^']+)'\]$")]
        private static partial Regex LabelField();

        /// <summary>$(VAR): an earlier variable of the container, as the kubelet expands it.</summary>
        [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
        private static partial Regex Reference();
    }
}

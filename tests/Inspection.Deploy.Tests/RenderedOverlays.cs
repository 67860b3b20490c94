using System.Text.Json.Nodes;
using Inspection.TestSupport;

namespace Inspection.Deploy.Tests;

/// <summary>
/// deploy/k8s's overlays rendered once for a test class by `kubectl kustomize` from a copy of deploy/ (with the
/// MQTT password file the README tells a user to create), each checked by validate-k8s.js and read as JSON.
/// </summary>
public sealed class RenderedOverlays : IAsyncLifetime
{
    public static readonly string[] Names = ["cpu", "gpu"];

    private readonly TempFolder _copy = DeployTools.CopyOfDeploy();

    public Dictionary<string, Overlay> ByName { get; } = [];

    public sealed record Overlay(string File, DeployTools.Result Validation, JsonArray Objects)
    {
        public IEnumerable<JsonNode> OfKind(string kind) => Objects.OfType<JsonNode>().Where(o => o.Text("kind") == kind);

        public JsonNode Named(string kind, string name) =>
            OfKind(kind).SingleOrDefault(o => o.Text("metadata", "name") == name) ?? throw new Xunit.Sdk.XunitException($"the rendered overlay has no {kind} '{name}'.");

        /// <summary>Every pod the overlay runs: a StatefulSet's, a CronJob's job's.</summary>
        public IEnumerable<(JsonNode Owner, JsonNode Pod)> Pods() =>
            OfKind("StatefulSet").Select(s => (s, s.At("spec", "template")!))
                .Concat(OfKind("CronJob").Select(c => (c, c.At("spec", "jobTemplate", "spec", "template")!)));
    }

    public async Task InitializeAsync()
    {
        foreach (var name in Names)
        {
            var file = _copy.File($"{name}.yaml");
            await File.WriteAllTextAsync(file, await DeployTools.RenderAsync(Path.Combine(_copy.Path, "deploy", "k8s", "overlays", name)));
            ByName[name] = new Overlay(file, await DeployTools.NodeAsync("validate-k8s.js", file), await DeployTools.ReadYamlAsync(file));
        }
    }

    public Task DisposeAsync()
    {
        _copy.Dispose();
        return Task.CompletedTask;
    }
}

using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Inspection.TestSupport;

namespace Inspection.Deploy.Tests;

/// <summary>
/// The real tools the deployment tests use: kubectl (kustomize), node with tools/validate, and a copy of
/// deploy/ to render and break. A tool that is missing fails the test with what to install.
/// </summary>
public static class DeployTools
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => $"exit {ExitCode}\n{Stdout}\n{Stderr}";
    }

    private static readonly Lazy<Task> NodeModules = new(InstallValidatorsAsync);

    public static string Deploy => Path.Combine(SharedData.RepositoryRoot, "deploy");

    public static string Validators => Path.Combine(SharedData.RepositoryRoot, "tools", "validate");

    public static async Task<Result> RunAsync(string tool, string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"'{tool}' cannot be run ({e.Message}): tools/install-deps.sh test installs kubectl, node and npm.", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(timeout.Token);
            return new Result(process.ExitCode, await stdout, await stderr);
        }
    }

    /// <summary>`kubectl kustomize FOLDER`, which must succeed; the rendered YAML.</summary>
    public static async Task<string> RenderAsync(string kustomization)
    {
        var render = await RunAsync("kubectl", kustomization, "kustomize", kustomization);
        Assert.True(render.ExitCode == 0, $"kubectl kustomize {kustomization} failed: {render.Output}");
        return render.Stdout;
    }

    /// <summary>A validator of tools/validate (validate-k8s.js, validate-compose.js, to-json.js) on a file.</summary>
    public static async Task<Result> NodeAsync(string script, string file)
    {
        await NodeModules.Value;
        return await RunAsync("node", Validators, Path.Combine(Validators, script), file);
    }

    /// <summary>A YAML file's documents, read by the validators' own parser.</summary>
    public static async Task<JsonArray> ReadYamlAsync(string file)
    {
        var json = await NodeAsync("to-json.js", file);
        Assert.True(json.ExitCode == 0, json.Output);
        return JsonNode.Parse(json.Stdout)!.AsArray();
    }

    /// <summary>A copy of deploy/ to render or break, with the secret files the docs tell a user to create.</summary>
    public static TempFolder CopyOfDeploy()
    {
        var folder = new TempFolder();
        Copy(new DirectoryInfo(Deploy), Path.Combine(folder.Path, "deploy"));
        File.WriteAllText(Path.Combine(folder.Path, "deploy", "k8s", "base", "site", "secrets", "mqtt-password"), "not-a-real-password\n");
        return folder;
    }

    private static void Copy(DirectoryInfo from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in from.GetFiles())
        {
            file.CopyTo(Path.Combine(to, file.Name));
        }

        foreach (var folder in from.GetDirectories())
        {
            Copy(folder, Path.Combine(to, folder.Name));
        }
    }

    /// <summary>npm ci, once per test run, when tools/validate has no node_modules (a fresh clone; the npm registry is reachable in CI).</summary>
    private static async Task InstallValidatorsAsync()
    {
        if (Directory.Exists(Path.Combine(Validators, "node_modules")))
        {
            return;
        }

        var install = await RunAsync("npm", Validators, "ci", "--no-audit", "--no-fund");
        Assert.True(install.ExitCode == 0, $"npm ci in tools/validate failed: {install.Output}");
    }
}

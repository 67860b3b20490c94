using System.Globalization;
using Inspection.Inference;
using Inspection.Models;
using Inspection.TestSupport;
using Inspection.Worker.Serving;
using Xunit.Abstractions;

namespace Inspection.Worker.Tests;

/// <summary>
/// Swaps that come faster than batches: every model a swap replaces is disposed, also the ones no batch ever ran,
/// so a line whose registry flips often does not grow (in native or GPU memory, which the GC does not see) until
/// it is killed.
/// </summary>
[Collection("Worker processes")]
public sealed class SwapMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Twenty_swaps_between_two_batches_leave_no_replaced_model_in_memory()
    {
        using var folder = new TempFolder();
        var model = Path.Combine(SharedData.RepositoryRoot, "models/workpiece-crack/workpiece-crack-yolov8n-320.onnx");
        var registry = new ModelRegistry(folder.File("registry"));
        var card = new ModelCard { Name = "crack", Version = 0, Sha256 = string.Empty, Created = DateTimeOffset.UtcNow, Classes = ["crack"], ImageSize = 320 };
        registry.Register("crack", model, card);
        registry.Register("crack", model, card);
        registry.Promote("crack", 1);

        // A triggered camera that gets no trigger: frames come, no batch does, so every swap lands before the next
        // batch (the pictures of a line waiting for parts); and no model allocates batch buffers, which would move
        // the heap by a megabyte depending on which model ran one.
        var settings = InProcessSettings.Demo(folder, ServerProcess.FreePort(), ["line"]);
        settings["Inspection:Cameras:0:Mode"] = "Triggered";
        settings["Inspection:Mqtt:Host"] = string.Empty;
        settings["Inspection:Mqtt:EmbeddedBrokerPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture);
        settings["Inspection:Model:Registry"] = registry.Root;
        settings["Inspection:Model:Name"] = "crack";
        settings["Inspection:Model:Providers:0"] = "Cpu";
        settings["Inspection:Model:RegistryPollInterval"] = "01:00:00"; // the test swaps; the registry's pointer stays at 1
        await using var worker = await InProcessWorker.StartAsync(settings);
        var host = worker.Get<ModelHost>();

        async Task SwapTo(int version)
        {
            var change = await host.SwapAsync(registry.Get("crack", version), "memory test");
            Assert.True(change.Event == "swapped", change.Reason);
        }

        // Swaps first until the runtime is warm: the swap's code is compiled again, optimised, after its 30th call
        // (tiered compilation: a few MB of code and JIT data, once), plus ONNX Runtime's first allocations; and one
        // round of measurements, since the first aggressive collection of the process moves the heap's level by itself.
        for (var i = 0; i < 32; i++)
        {
            await SwapTo(i % 2 == 0 ? 2 : 1);
        }

        await LevelAsync();

        // The resident size of one more loaded model, the unit the growth is judged by: a quarter of what four more
        // add, since the resident size moves by a few MB by itself (CI once measured one model as -2 MB).
        const int Loaded = 4;
        long oneModel;
        var (_, rssBase) = await LevelAsync();
        var detectors = new List<YoloDetector>();
        try
        {
            for (var i = 0; i < Loaded; i++)
            {
                detectors.Add(YoloDetector.Open(new DetectorOptions { ModelPath = model, Providers = [ExecutionProvider.Cpu] }));
            }

            oneModel = (Measure().Rss - rssBase) / Loaded;
        }
        finally
        {
            foreach (var detector in detectors)
            {
                await detector.DisposeAsync();
            }
        }

        Assert.True(oneModel > 0, $"one more loaded model added {oneModel} bytes");

        // Every model seen serving stays referenced here: a replaced model that is not disposed then keeps its
        // native memory (were it unreachable, its session's finalizer would free it at some later collection and
        // hide the fault), so only disposing it gives the memory back. Up to three rounds of 20 swaps: native
        // allocators may take a few MB once, now and then (seen: 19 MB in one round on a fresh machine); a model
        // left behind per swap costs every round 20 models.
        var seen = new List<ServingModel>();
        var (heapBefore, rssBefore) = await LevelAsync();
        var (heapAfter, rssAfter) = (heapBefore, rssBefore);
        for (var round = 1; round <= 3; round++)
        {
            (heapBefore, rssBefore) = await LevelAsync();
            for (var i = 0; i < 20; i++)
            {
                await SwapTo(i % 2 == 0 ? 2 : 1);
                seen.Add(host.Serving);
            }

            (heapAfter, rssAfter) = await LevelAsync();
            output.WriteLine($"round {round}, 20 swaps: managed heap {heapBefore / 1e6:0.00} MB -> {heapAfter / 1e6:0.00} MB; resident {rssBefore / 1e6:0.0} MB -> {rssAfter / 1e6:0.0} MB ({(rssAfter - rssBefore) / 1e6:+0.0;-0.0} MB); one more loaded model: {oneModel / 1e6:0.0} MB");
            if (rssAfter - rssBefore < oneModel && heapAfter <= heapBefore * 1.1)
            {
                break;
            }
        }

        GC.KeepAlive(seen);
        Assert.True(heapAfter <= heapBefore * 1.1, $"the managed heap grew from {heapBefore} to {heapAfter} bytes over 20 swaps");
        Assert.True(rssAfter - rssBefore < oneModel, $"the resident size grew by {(rssAfter - rssBefore) / 1e6:0.0} MB over 20 swaps in each of three rounds; one loaded model is {oneModel / 1e6:0.0} MB");
    }

    /// <summary>
    /// The lowest of five measurements 200 ms apart: the worker's other parts (the MQTT session sending the swap
    /// events, the camera) hold buffers for moments, which are not what a swap leaves behind.
    /// </summary>
    private static async Task<(long Heap, long Rss)> LevelAsync()
    {
        var (heap, rss) = Measure();
        for (var i = 0; i < 4; i++)
        {
            await Task.Delay(200);
            var next = Measure();
            (heap, rss) = (Math.Min(heap, next.Heap), Math.Min(rss, next.Rss));
        }

        return (heap, rss);
    }

    /// <summary>
    /// The managed heap after a full collection, and the resident set size (VmRSS) of this process once the GC and
    /// glibc have returned their free memory to the system: both keep what was freed (the GC the large arrays a
    /// model is read into, glibc's arenas what ONNX Runtime freed), tens of MB that come and go and would hide a
    /// model left behind, or show one that is not.
    /// </summary>
    private static (long Heap, long Rss) Measure()
    {
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _ = MallocTrim(0);
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        var kilobytes = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return (heap, kilobytes * 1024);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}

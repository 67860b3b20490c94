using System.ComponentModel.DataAnnotations;

namespace Inspection.Core;

/// <summary>
/// An output of the worker: where results, camera states, service events and replies go (JSON over MQTT,
/// Sparkplug B, a file, a database...). The worker's fan-out gives each sink its own bounded buffer and one
/// writer, so a slow or failing sink never holds up the others or the detector (unless its policy is
/// <see cref="SinkFullPolicy.Block"/>). A new output is one class implementing this and one options section.
/// </summary>
public interface IResultSink : IAsyncDisposable
{
    /// <summary>Short and unique among the sinks: metrics and logs name the sink by it, replies are routed by it.</summary>
    string Name { get; }

    /// <summary>The buffer the fan-out keeps in front of this sink.</summary>
    SinkBufferOptions Buffer { get; }

    /// <summary>Connects or opens what the sink needs; called once, before the first item.</summary>
    Task StartAsync(CancellationToken cancel);

    /// <summary>
    /// Takes one item. Called by a single writer, in the order the worker produced the items. Throwing costs
    /// this item only (it is counted as failed); the next one is written as usual.
    /// </summary>
    ValueTask WriteAsync(SinkItem item, CancellationToken cancel);

    /// <summary>At shutdown: waits until what was written has left or is stored durably; false when the deadline came first.</summary>
    Task<bool> FlushAsync(TimeSpan deadline);
}

/// <summary>What a sink's buffer does when it is full.</summary>
public enum SinkFullPolicy
{
    /// <summary>The worker waits for room: for a sink that must not lose a result and buffers durably itself (the MQTT disk queue).</summary>
    Block,

    /// <summary>The oldest waiting item is dropped (counted): for live views where the newest state matters.</summary>
    DropOldest,

    /// <summary>The new item is dropped (counted).</summary>
    DropNewest,
}

/// <summary>A sink's buffer in the fan-out: how many items may wait, and what happens beyond that.</summary>
public sealed class SinkBufferOptions
{
    [Range(1, 1_000_000)]
    public int Capacity { get; set; } = 1024;

    public SinkFullPolicy Policy { get; set; } = SinkFullPolicy.DropOldest;
}

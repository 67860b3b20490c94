namespace Inspection.Worker.Tests;

/// <summary>Tests that run whole workers with real servers go one at a time: two cores, and timing-sensitive streams.</summary>
[CollectionDefinition("Worker processes", DisableParallelization = true)]
public sealed class WorkerProcesses;

namespace Inspection.Core;

/// <summary>
/// This run of the process: an id that differs at every start (time-ordered, UUID v7), so that results of a
/// restarted worker, whose cameras number their frames from 1 again, are told apart from the last run's.
/// </summary>
public static class ProcessRun
{
    public static Guid Id { get; } = Guid.CreateVersion7();
}

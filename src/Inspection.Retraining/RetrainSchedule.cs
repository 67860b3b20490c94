using Cronos;
using Inspection.Core;
using Microsoft.Extensions.Logging;

namespace Inspection.Retraining;

/// <summary>
/// Runs retraining on a cron schedule ("0 2 * * *", or with seconds "0 */30 * * * *"), one run at a time: a run
/// that outlasts its slot delays the next one instead of overlapping it. A run that fails, whatever it throws
/// (a user's mistake, I/O, libtorch, a bug), is logged with its slot and start, counted, and the schedule goes on:
/// a service that retrains every night must not stop for one bad night. Only cancellation ends it.
/// </summary>
public sealed class RetrainSchedule
{
    private readonly CronExpression _expression;
    private int _runs;
    private int _failedRuns;

    public RetrainSchedule(string cron)
    {
        try
        {
            var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            _expression = CronExpression.Parse(cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            throw new InspectionInputException($"schedule '{cron}' is not a cron expression ({e.Message}); for example \"0 2 * * *\" runs at 02:00 every day.");
        }

        Text = cron;
    }

    public string Text { get; }

    /// <summary>Runs started so far.</summary>
    public int Runs => Volatile.Read(ref _runs);

    /// <summary>Runs that ended in an exception (each logged, and the schedule went on).</summary>
    public int FailedRuns => Volatile.Read(ref _failedRuns);

    public DateTimeOffset? Next(DateTimeOffset after) => _expression.GetNextOccurrence(after, TimeZoneInfo.Local);

    /// <summary>Waits for each occurrence and runs <paramref name="run"/> then, until cancelled.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> run, ILogger logger, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            var next = Next(DateTimeOffset.UtcNow) ?? throw new InspectionInputException($"schedule '{Text}' never fires.");
            logger.LogInformation("Next retraining at {Next:yyyy-MM-dd HH:mm:ss zzz}.", next);
            try
            {
                var wait = next - DateTimeOffset.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancel).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }

            var started = DateTimeOffset.Now;
            var runs = Interlocked.Increment(ref _runs);
            try
            {
                await run(cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var failed = Interlocked.Increment(ref _failedRuns);
                if (e is InspectionInputException)
                {
                    logger.LogError("Retraining run of {Slot:yyyy-MM-dd HH:mm:ss zzz} (started {Started:HH:mm:ss}) failed, {Failed} of {Runs} runs so far; the schedule goes on: {Reason}", next, started, failed, runs, e.Message);
                }
                else
                {
                    logger.LogError(e, "Retraining run of {Slot:yyyy-MM-dd HH:mm:ss zzz} (started {Started:HH:mm:ss}) failed unexpectedly, {Failed} of {Runs} runs so far; the schedule goes on: {Type}: {Reason}", next, started, failed, runs, e.GetType().Name, e.Message);
                }
            }
        }
    }
}
